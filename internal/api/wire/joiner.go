package wire

import (
	"encoding/base64"
	"strings"

	"github.com/sparkgw/spark/internal/llm"
)

// Joiner lays out answer text in which the model's generated images are
// shown: text as it comes, each image as a markdown image on a paragraph
// of its own. Feed it every piece in order and send what it returns. The
// zero value is ready for a new answer.
type Joiner struct {
	n          int  // bytes of content so far
	nl         int  // trailing newlines of the content so far
	afterImage bool // the last piece was an image
}

// Text returns the piece to send for a text delta: t, after a paragraph
// break when it directly follows an image.
func (j *Joiner) Text(t string) string {
	if t == "" {
		return ""
	}
	if j.afterImage && t[0] != '\n' {
		t = "\n\n" + t
	}
	j.afterImage = false
	j.note(t)
	return t
}

// Image returns the piece to send for a generated image: "![image](ref)"
// (see ImageRef), after the newlines that start a new paragraph.
func (j *Joiner) Image(m *llm.Media) string {
	var sep string
	switch {
	case j.n == 0 || j.nl >= 2:
	case j.nl == 1:
		sep = "\n"
	default:
		sep = "\n\n"
	}
	t := sep + "![image](" + ImageRef(m) + ")"
	j.afterImage = true
	j.note(t)
	return t
}

// note records t as sent.
func (j *Joiner) note(t string) {
	j.n += len(t)
	trimmed := strings.TrimRight(t, "\n")
	if len(trimmed) == 0 {
		j.nl += len(t)
	} else {
		j.nl = len(t) - len(trimmed)
	}
}

// ImageRef is the URL of a generated image, or a data URL of its bytes
// (image/png when its type is unknown).
func ImageRef(m *llm.Media) string {
	if m.URL != "" {
		return m.URL
	}
	mt := m.MIMEType
	if mt == "" {
		mt = "image/png"
	}
	return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(m.Data)
}
