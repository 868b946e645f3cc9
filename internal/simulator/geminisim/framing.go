package geminisim

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// xssiGuard starts every batchexecute/StreamGenerate body.
const xssiGuard = ")]}'\n\n"

// bardErrorType is the type URL of the error detail carrying Bard codes.
const bardErrorType = "type.googleapis.com/assistant.boq.bard.application.BardErrorInfo"

// utf16Len is the JavaScript length of s (UTF-16 code units).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// marshal encodes v as JSON (Go escapes <, > and & like Google does).
func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// innerJSON encodes an inner payload the way Google's JSPB serializer does:
// additionally `=` becomes \u003d (see the 2025-10 content fixture).
func innerJSON(v any) string {
	return strings.ReplaceAll(marshal(v), "=", `\u003d`)
}

// Envelope entries.

func contentEntry(inner any) []any { return []any{"wrb.fr", nil, innerJSON(inner)} }

func statusEntry(code int) []any { return []any{"wrb.fr", nil, nil, nil, nil, []any{code}} }

func bardErrorEntry(status, code int) []any {
	return []any{"wrb.fr", nil, nil, nil, nil, []any{status, nil, []any{[]any{bardErrorType, []any{code}}}}}
}

func erEntry() []any { return []any{"er", nil, nil, nil, nil, 400, nil, nil, nil, 3} }

// bodyWriter writes a Google RPC body: the XSSI guard, then either
// length-prefixed frames (rt=c) or one JSON array holding every entry.
// Every frame is flushed; a failed write or flush is kept in err.
type bodyWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	framed  bool
	start   time.Time
	bytes   int // body bytes written so far
	entries int // entries written so far
	err     error
	afID    int64
	afN     int
}

// newBodyWriter prepares a body for w; salt makes the af.httprm id stable.
func newBodyWriter(w http.ResponseWriter, framed bool, salt string) *bodyWriter {
	h := hashOf("af.httprm", salt)
	return &bodyWriter{
		w: w, rc: http.NewResponseController(w), framed: framed, start: time.Now(),
		afID: int64(binary.BigEndian.Uint64(h[:8])), afN: int(h[8]) % 64,
	}
}

// begin writes the status line, headers and the XSSI guard.
func (b *bodyWriter) begin(status int) {
	hd := b.w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", "attachment; filename=\"response.bin\"; filename*=UTF-8''response.bin")
	b.w.WriteHeader(status)
	head := xssiGuard
	if !b.framed {
		head += "["
	}
	b.write(head)
}

func (b *bodyWriter) write(s string) {
	if b.err != nil {
		return
	}
	n, err := b.w.Write([]byte(s))
	b.bytes += n
	if err != nil {
		b.err = err
	}
}

func (b *bodyWriter) flush() {
	if b.err == nil {
		if err := b.rc.Flush(); err != nil {
			b.err = err
		}
	}
}

// frame writes one frame holding entries and flushes it.
func (b *bodyWriter) frame(entries ...[]any) error {
	if b.framed {
		js := marshal(entries)
		b.write(strconv.Itoa(utf16Len(js)+2) + "\n" + js + "\n")
	} else {
		var sb strings.Builder
		for _, e := range entries {
			if b.entries > 0 || sb.Len() > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(marshal(e))
		}
		b.write(sb.String())
	}
	b.entries += len(entries)
	b.flush()
	return b.err
}

// trailers returns the server timing entries `di` and `af.httprm`.
func (b *bodyWriter) trailers() [][]any {
	ms := int(time.Since(b.start) / time.Millisecond)
	return [][]any{
		{"di", ms + 1},
		{"af.httprm", ms, strconv.FormatInt(b.afID, 10), b.afN},
	}
}

// end writes the timing trailers (merged into the frame with extra entries,
// if any) and, when framed, the end marker whose last number is the UTF-8
// byte length of the whole body.
func (b *bodyWriter) end(extra ...[]any) error {
	_ = b.frame(append(extra, b.trailers()...)...)
	if !b.framed {
		b.write("]")
		b.flush()
		return b.err
	}
	count := b.entries + 1
	total := b.bytes
	var fr string
	for range 10 { // the total includes the marker's own digits: iterate to a fixed point
		js := marshal([][]any{{"e", count, nil, nil, total}})
		fr = strconv.Itoa(len(js)+2) + "\n" + js + "\n"
		if b.bytes+len(fr) == total {
			break
		}
		total = b.bytes + len(fr)
	}
	b.write(fr)
	b.entries++
	b.flush()
	return b.err
}
