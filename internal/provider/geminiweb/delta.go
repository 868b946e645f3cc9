package geminiweb

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Differ turns the cumulative text snapshots of a Gemini answer (docs/gemini-web-upstream.md §3.4) into
// deltas whose concatenation is the final text.
//
// Snapshots are not always prefix-monotonic: Gemini renders the tail of an
// unfinished answer with artefacts that the next snapshot rewrites — a
// trailing Markdown escape (`\_`, `\*`, "\\`"), an auto-closed code fence
// ("\n```"), a half-written placeholder URL
// (http://googleusercontent.com/image_generation_content/0, removed from
// the text because the image arrives as its own event), the opening of a
// code-execution block (removed as a whole), or a surrogate pair cut in two
// (decoded as U+FFFD). The strategy is to hold back, from every
// intermediate snapshot, the shortest tail that may still be such an
// artefact, and emit only text beyond what was already emitted:
//
//   - the emitted text is always a prefix of the last accepted stable text;
//   - a snapshot whose stable part extends the emitted text yields the
//     extension; one that is shorter yields nothing;
//   - a snapshot that contradicts already emitted text (a rewrite deeper
//     than any known artefact) yields nothing and is counted in Retractions;
//     Final then emits the final text from the first differing rune, so no
//     content is lost (the concatenation then differs from the final text,
//     which cannot be avoided once text has left).
//
// So whenever every intermediate snapshot, without its held-back tail, is a
// prefix of the final one, the deltas concatenate to exactly the cleaned
// final text. Deltas never split a rune. The zero value is ready to use; a
// Differ is not safe for concurrent use.
type Differ struct {
	emitted     string
	retractions int
}

// Next returns the delta for an intermediate snapshot.
func (d *Differ) Next(snapshot string) string {
	c := CleanText(snapshot)
	return d.advance(c[:stableLen(c)], false)
}

// Final returns the delta for the last snapshot of the answer: nothing is
// held back any more.
func (d *Differ) Final(snapshot string) string {
	return d.advance(CleanText(snapshot), true)
}

// Text returns everything emitted so far.
func (d *Differ) Text() string { return d.emitted }

// Retractions counts snapshots that contradicted already emitted text.
func (d *Differ) Retractions() int { return d.retractions }

func (d *Differ) advance(stable string, final bool) string {
	if strings.HasPrefix(stable, d.emitted) {
		delta := stable[len(d.emitted):]
		d.emitted = stable
		return delta
	}
	if strings.HasPrefix(d.emitted, stable) {
		if final && len(stable) < len(d.emitted) {
			d.retractions++
		}
		return "" // shorter than what left already
	}
	d.retractions++
	if !final {
		return ""
	}
	cp := commonPrefix(d.emitted, stable)
	delta := stable[cp:]
	d.emitted += delta
	return delta
}

// commonPrefix returns the byte length of the longest common prefix of a and
// b that ends on a rune boundary of both.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	for i > 0 && (i < len(b) && !utf8.RuneStart(b[i]) || i < len(a) && !utf8.RuneStart(a[i])) {
		i--
	}
	return i
}

const artifactPrefix = "http://googleusercontent.com/"

var (
	// artifactRE matches complete placeholder URLs (image_generation_content,
	// video_gen_chip, agentic_processing_chip, card_content, ...).
	artifactRE = regexp.MustCompile(`http://googleusercontent\.com/[A-Za-z_]+/\d+`)
	// artifactTailRE matches an unfinished placeholder at the end of text.
	artifactTailRE = regexp.MustCompile(`^[A-Za-z_]*(?:/\d*)?$`)
)

// CleanText applies Gemini's text hygiene to a snapshot: placeholder URLs
// of generated media are removed (the media arrive as their own events),
// and so are complete code-execution blocks (```python?code_reference...
// through the closing fence) that echo what the model ran. Invalid UTF-8 is
// replaced by U+FFFD. Text is not HTML-unescaped: the captured bodies carry
// raw text, and unescaping would corrupt literal entities in code answers.
func CleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.Contains(s, artifactPrefix) {
		s = artifactRE.ReplaceAllString(s, "")
	}
	if strings.Contains(s, "?code_") {
		s = stripCodeExec(s)
	}
	return s
}

// codeExecOpener reports whether the line starting at s[i] opens a
// code-execution block, and returns the end of that line (exclusive of
// "\n"; -1 when the line is not finished).
func codeExecOpener(s string, i int) (bool, int) {
	if !strings.HasPrefix(s[i:], "```") {
		return false, 0
	}
	end := strings.IndexByte(s[i:], '\n')
	line := s[i:]
	if end >= 0 {
		line = s[i : i+end]
		end += i
	}
	info := line[3:]
	q := strings.Index(info, "?code_")
	if q < 0 || strings.ContainsAny(info[:q], " `") {
		return false, 0
	}
	return true, end
}

// closingFence returns the end (after the fence line and its newline) of
// the first line consisting of ``` at or after position from, or -1.
func closingFence(s string, from int) int {
	for i := from; i < len(s); {
		j := strings.IndexByte(s[i:], '\n')
		line := s[i:]
		next := len(s)
		if j >= 0 {
			line = s[i : i+j]
			next = i + j + 1
		}
		if strings.TrimRight(line, " \r") == "```" {
			return next
		}
		if j < 0 {
			break
		}
		i = next
	}
	return -1
}

// stripCodeExec removes finished code-execution blocks.
func stripCodeExec(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if (i == 0 || s[i-1] == '\n') && s[i] == '`' {
			if ok, end := codeExecOpener(s, i); ok && end >= 0 {
				if c := closingFence(s, end+1); c >= 0 {
					b.WriteString(s[last:i])
					last, i = c, c
					continue
				}
			}
		}
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// stableLen returns the length of the part of a cleaned intermediate
// snapshot that can no longer be rewritten: the text without a trailing
// artefact that a later snapshot may remove.
func stableLen(s string) int {
	n := len(s)
	for range 8 { // each rule may expose another artefact; few rounds suffice
		m := holdBack(s[:n])
		if m == n {
			break
		}
		n = m
	}
	return n
}

func holdBack(s string) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	// An unfinished code-execution block: hold it from its opening line.
	if strings.Contains(s, "?code_") {
		for i := strings.LastIndex(s, "```"); i >= 0; i = strings.LastIndex(s[:i], "```") {
			if i > 0 && s[i-1] != '\n' {
				continue
			}
			if ok, end := codeExecOpener(s, i); ok {
				if end < 0 || closingFence(s, end+1) < 0 {
					return i
				}
				break
			}
		}
	}
	// A last line that is, or may become, a fence ("\n```" auto-closes an
	// open code block while streaming): hold it with its newline.
	ls := strings.LastIndexByte(s, '\n') + 1
	if l := s[ls:]; l != "" && (strings.HasPrefix(l, "```") || strings.HasPrefix("```", l)) {
		if ls > 0 {
			return ls - 1
		}
		return 0
	}
	// An unfinished placeholder URL.
	if i := strings.LastIndex(s, artifactPrefix); i >= 0 && artifactTailRE.MatchString(s[i+len(artifactPrefix):]) {
		return i
	}
	for k := min(len(artifactPrefix)-1, n); k > 0; k-- {
		if strings.HasSuffix(s, artifactPrefix[:k]) {
			return n - k
		}
	}
	// A trailing Markdown escape, or a lone backslash that may start one.
	if s[n-1] == '\\' {
		return n - 1
	}
	if n >= 2 && s[n-2] == '\\' && isEscapable(s[n-1]) {
		return n - 2
	}
	// A surrogate pair cut between two snapshots decodes as U+FFFD.
	if strings.HasSuffix(s, "\uFFFD") {
		return n - len("\uFFFD")
	}
	return n
}

// isEscapable reports ASCII punctuation that Markdown lets a backslash
// escape.
func isEscapable(c byte) bool {
	return strings.IndexByte("\\`*_{}[]()<>#+-.!|~", c) >= 0
}
