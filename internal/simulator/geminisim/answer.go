package geminisim

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

const (
	defaultTextFrames = 5
	maxTextFrames     = 5000 // cumulative snapshots grow quadratically
	thoughtFrames     = 3
	maxPromptBytes    = 130000 // the real server silently cuts longer prompts
	maxAttachText     = 160000 // readable text from attachments
	imagePlaceholder  = "http://googleusercontent.com/image_generation_content/0"
	refusalNoAccess   = "I don't seem to have access to that content."
)

// lastUserTurn returns the text after the last line beginning `User:` up to
// the next role line, or the whole prompt when no role lines exist.
func lastUserTurn(prompt string) string {
	lines := strings.Split(prompt, "\n")
	roleLine := func(l string) bool {
		l = strings.TrimLeft(l, "\r")
		return strings.HasPrefix(l, "User:") || strings.HasPrefix(l, "Assistant:") || strings.HasPrefix(l, "System:")
	}
	last := -1
	anyRole := false
	for i, l := range lines {
		if roleLine(l) {
			anyRole = true
		}
		if strings.HasPrefix(l, "User:") {
			last = i
		}
	}
	if !anyRole || last < 0 {
		return prompt
	}
	first := strings.TrimPrefix(lines[last], "User:")
	first = strings.TrimPrefix(first, " ")
	out := []string{first}
	for _, l := range lines[last+1:] {
		if roleLine(l) {
			break
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), " \t\r\n")
}

var (
	codeDirective   = regexp.MustCompile(`sim:code\s+(\d{3,4})\b`)
	searchDirective = regexp.MustCompile(`sim:search\b`)
)

// extraDirectives reads this simulator's own directives (sim:code, sim:search).
func extraDirectives(turn string) (code int, search bool) {
	if m := codeDirective.FindAllStringSubmatch(turn, -1); m != nil {
		code, _ = strconv.Atoi(m[len(m)-1][1])
	}
	return code, searchDirective.MatchString(turn)
}

// attachmentNote is one line the answer says about an attachment.
type attachmentNote struct {
	name, mime string
	size       int
	ok         bool
}

// answer is a planned reply: final texts and the rune positions at which
// the streamed text snapshots are cut.
type answer struct {
	text     []rune
	thoughts []rune
	cuts     []int // strictly increasing, last == len(text)
	escapeAt int   // cut rendered with a trailing `\_` (-1: none)
	fenceLo  int   // code block interior [fenceLo, fenceHi): cuts inside get "\n```"
	fenceHi  int
}

// planAnswer composes the answer to turn.
//
// A request that gives the JSON Schema of the answer (schema, from a
// ```json-schema block of the prompt) is answered with a minimal instance
// of it, and `sim:json VALUE` with VALUE, in a sentence and a ```json fence.
func planAnswer(turn string, d simcore.Directives, served model, files []attachmentNote, frames int, schema json.RawMessage) *answer {
	a := &answer{escapeAt: -1, fenceLo: -1, fenceHi: -1}
	var text string
	if len(d.Tools) > 0 {
		calls := make([]string, len(d.Tools))
		for i, tc := range d.Tools {
			name, _ := json.Marshal(tc.Name)
			calls[i] = fmt.Sprintf(`<tool_call>{"name": %s, "arguments": %s}</tool_call>`, name, tc.Arguments)
		}
		text = strings.Join(calls, "\n")
	} else if v := d.JSON; v != nil || schema != nil {
		// sim:json, or a minimal instance of the requested schema: a
		// sentence and a ```json fence, whose interior snapshots get the
		// auto-closed fence.
		if v == nil {
			v = simcore.MinimalInstance(schema)
		}
		text = simcore.JSONAnswer(v)
		a.fenceLo = utf8.RuneCountInString(text[:strings.Index(text, "```json\n")+len("```json\n")])
		a.fenceHi = utf8.RuneCountInString(text) - len("\n```")
		turn = ""
	} else {
		var sb strings.Builder
		sb.WriteString(turn)
		sb.WriteString("\n\n— Gemini web simulator, answering as ")
		sb.WriteString(served.name)
		sb.WriteString("; sim_echo ok.")
		for _, f := range files {
			if f.ok {
				fmt.Fprintf(&sb, "\n\nAttachment %q (%s, %d bytes) received.", f.name, f.mime, f.size)
			} else {
				fmt.Fprintf(&sb, "\n\n%s (%q)", refusalNoAccess, f.name)
			}
		}
		if d.Video {
			sb.WriteString("\n\nI can't create videos here: video generation is not supported in this chat.")
		}
		if d.Image {
			sb.WriteString("\n\nHere is the image you asked for:\n\n" + imagePlaceholder)
		}
		stats := fmt.Sprintf("runes=%d utf16=%d bytes=%d", utf8.RuneCountInString(turn), utf16Len(turn), len(turn))
		const open, closing = "\n\n```text\n", "\n```"
		// Long answers get a counting paragraph so that every frame grows.
		total := utf8.RuneCountInString(sb.String()) + utf8.RuneCountInString(open+stats+closing)
		if total < frames {
			sb.WriteString("\n\nCounting:")
			total += len("\n\nCounting:")
			for k := 1; total < frames; k++ {
				s := " " + strconv.Itoa(k)
				sb.WriteString(s)
				total += len(s)
			}
		}
		sb.WriteString(open)
		a.fenceLo = utf8.RuneCountInString(sb.String())
		sb.WriteString(stats)
		a.fenceHi = utf8.RuneCountInString(sb.String())
		sb.WriteString(closing)
		text = sb.String()
	}
	a.text = []rune(text)
	if d.Think {
		what := "echo it back verbatim and add a short code block with its lengths"
		if len(d.Tools) > 0 {
			what = "call the requested tool"
		}
		a.thoughts = []rune(fmt.Sprintf("**Reading the request**\n\nThe last user turn has %d characters (%d UTF-16 units).\n\n\n**Planning the reply**\n\nI'll %s.",
			utf8.RuneCountInString(turn), utf16Len(turn), what))
	}
	if len(d.Tools) > 0 {
		turn = ""
	}
	a.planCuts(frames, turn)
	return a
}

// planCuts places frames cuts over the text: first on interesting points,
// then evenly. The interesting points are: just before the first `_` outside
// the code block (that snapshot ends with a Markdown escape `\_` the next one
// rewrites), just after the first astral and the first non-ASCII rune of the
// echo, and inside the code block (that snapshot carries an auto-closed
// fence).
func (a *answer) planCuts(frames int, turn string) {
	r := len(a.text)
	n := max(1, min(frames, r))
	if r == 0 {
		a.cuts = []int{0}
		return
	}
	var forced []int
	add := func(p int) bool {
		if p <= 0 || p >= r || len(forced) >= n-1 || slices.Contains(forced, p) {
			return false
		}
		forced = append(forced, p)
		return true
	}
	for i, c := range a.text {
		if c == '_' && (a.fenceLo < 0 || i < a.fenceLo || i >= a.fenceHi) {
			if add(i) {
				a.escapeAt = i
			}
			break
		}
	}
	tr := []rune(turn)
	if i := slices.IndexFunc(tr, func(c rune) bool { return c >= 0x10000 }); i >= 0 {
		add(i + 1) // the echo starts the text
	}
	if i := slices.IndexFunc(tr, func(c rune) bool { return c >= 0x80 }); i >= 0 {
		add(i + 1)
	}
	if a.fenceLo >= 0 && a.fenceHi-a.fenceLo >= 2 {
		add((a.fenceLo + a.fenceHi) / 2)
	}
	set := map[int]bool{r: true}
	for _, p := range forced {
		set[p] = true
	}
	m := n - 1 - len(forced)
	for i := range m {
		set[(i+1)*r/(m+1)] = true
	}
	delete(set, 0)
	cuts := slices.Sorted(maps.Keys(set))
	for len(cuts) < n { // collisions: split the largest gaps
		best, at := 0, 0
		prev := 0
		for i, c := range cuts {
			if c-prev > best {
				best, at = c-prev, i
			}
			prev = c
		}
		lo := 0
		if at > 0 {
			lo = cuts[at-1]
		}
		cuts = slices.Insert(cuts, at, lo+best/2)
	}
	a.cuts = cuts
}

// snapshot renders text snapshot i (0-based) with its artefacts.
func (a *answer) snapshot(i int) string {
	c := a.cuts[i]
	s := string(a.text[:c])
	if c == len(a.text) {
		return s
	}
	switch {
	case c == a.escapeAt:
		s += `\_`
	case a.fenceLo >= 0 && c >= a.fenceLo && c < a.fenceHi:
		s += "\n```"
	}
	return s
}

// thoughtSnapshots are the growing thoughts (empty without sim:think).
func (a *answer) thoughtSnapshots() []string {
	if len(a.thoughts) == 0 {
		return nil
	}
	out := make([]string, thoughtFrames)
	for i := range thoughtFrames {
		out[i] = string(a.thoughts[:(i+1)*len(a.thoughts)/thoughtFrames])
	}
	return out
}
