package geminiweb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrame bounds one frame of an upstream body, in bytes. Real
// StreamGenerate lines reach about 8 MB (long answers are sent as whole
// cumulative snapshots), so the bound is generous but finite.
const DefaultMaxFrame = 32 << 20

// xssiGuard starts every batchexecute and StreamGenerate body.
const xssiGuard = ")]}'"

// Errors of the frame reader. Callers map them to gw codes: a malformed body
// means the protocol changed, a body cut short means the connection dropped.
var (
	// ErrFrameTooLarge reports a frame above the reader's bound.
	ErrFrameTooLarge = errors.New("geminiweb: frame too large")
	// ErrBadFraming reports a body that is neither length-prefixed frames
	// nor one JSON array.
	ErrBadFraming = errors.New("geminiweb: malformed response framing")
)

// Frame is one unit of a Google RPC response body: a length-prefixed chunk
// of the `rt=c` form, or one element of the single-array form.
type Frame struct {
	// Len is the declared LEN of a length-prefixed chunk (UTF-16 code
	// units of "\n" + JSON + "\n"); 0 in the single-array form.
	Len int
	// Entries are the envelope entries the frame carries
	// (["wrb.fr", ...], ["di", ...], ["e", ...], ...).
	Entries []json.RawMessage
}

// FrameReader reads a Google RPC response body incrementally (docs/gemini-web-upstream.md §3.1): the
// XSSI guard `)]}'`, then either `LEN\n<json>\n` chunks whose LEN counts
// UTF-16 code units (JavaScript string length), or one JSON array holding
// every entry. It never buffers more than one frame. Not safe for
// concurrent use.
type FrameReader struct {
	r     *bufio.Reader
	max   int
	state int // frStart, frFramed, frArray, frDone
	dec   *json.Decoder
	cnt   *countingReader
	buf   []byte
	whole bool // the single array was closed
}

// Closed reports whether a single-array body ended with its closing
// bracket (that form has no end marker entry).
func (f *FrameReader) Closed() bool { return f.whole }

const (
	frStart = iota
	frFramed
	frArray
	frDone
)

// NewFrameReader returns a reader over r whose frames are at most maxFrame
// bytes (DefaultMaxFrame when maxFrame <= 0).
func NewFrameReader(r io.Reader, maxFrame int) *FrameReader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), max: maxFrame}
}

// Next returns the next frame, io.EOF after the last one, ErrBadFraming or
// ErrFrameTooLarge for a body it cannot read, io.ErrUnexpectedEOF when the
// body ends inside a frame, or the underlying reader's error.
func (f *FrameReader) Next() (Frame, error) {
	switch f.state {
	case frStart:
		kind, err := f.start()
		if err != nil {
			f.state = frDone
			return Frame{}, err
		}
		f.state = kind
		return f.Next()
	case frFramed:
		fr, err := f.nextChunk()
		if err != nil {
			f.state = frDone
		}
		return fr, err
	case frArray:
		fr, err := f.nextElement()
		if err != nil {
			f.state = frDone
		}
		return fr, err
	}
	return Frame{}, io.EOF
}

// start consumes the XSSI guard and decides which form the body has.
func (f *FrameReader) start() (int, error) {
	if err := f.skipSpace(); err != nil {
		return 0, err
	}
	if p, _ := f.r.Peek(len(xssiGuard)); string(p) == xssiGuard {
		_, _ = f.r.Discard(len(xssiGuard))
		if err := f.skipSpace(); err != nil {
			return 0, err
		}
	}
	c, err := f.r.Peek(1)
	if err != nil {
		return 0, eofOr(err)
	}
	switch {
	case c[0] >= '0' && c[0] <= '9':
		return frFramed, nil
	case c[0] == '[':
		f.cnt = &countingReader{r: f.r}
		f.dec = json.NewDecoder(f.cnt)
		tok, err := f.dec.Token()
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBadFraming, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return 0, ErrBadFraming
		}
		return frArray, nil
	}
	return 0, ErrBadFraming
}

// skipSpace discards JSON whitespace; io.EOF when nothing else follows.
func (f *FrameReader) skipSpace() error {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return eofOr(err)
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return f.r.UnreadByte()
	}
}

// eofOr passes io.EOF through and wraps nothing else.
func eofOr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// nextChunk reads one `LEN\n<json>\n` chunk.
func (f *FrameReader) nextChunk() (Frame, error) {
	if err := f.skipSpace(); err != nil {
		return Frame{}, err
	}
	n := 0
	digits := 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Frame{}, io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if c < '0' || c > '9' {
			if digits == 0 {
				return Frame{}, ErrBadFraming
			}
			if err := f.r.UnreadByte(); err != nil {
				return Frame{}, err
			}
			break
		}
		digits++
		if digits > 10 {
			return Frame{}, ErrBadFraming
		}
		n = n*10 + int(c-'0')
	}
	if n > f.max {
		return Frame{}, ErrFrameTooLarge
	}
	data, err := f.readUnits(n)
	if err != nil {
		return Frame{}, err
	}
	js := bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '\n' && data[0] != '\r' || len(js) == 0 {
		return Frame{}, ErrBadFraming
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(js, &entries); err != nil {
		return Frame{}, fmt.Errorf("%w: chunk is not a JSON array: %v", ErrBadFraming, err)
	}
	return Frame{Len: n, Entries: entries}, nil
}

// readUnits reads exactly n UTF-16 code units of UTF-8 text: every byte
// that starts a sequence counts one unit, a 4-byte sequence (a character
// outside the BMP, a surrogate pair in JavaScript) counts two, continuation
// bytes count none. The last character is read whole.
func (f *FrameReader) readUnits(n int) ([]byte, error) {
	buf := f.buf[:0]
	units, pend := 0, 0
	for units < n || pend > 0 {
		if units >= n { // only the continuation bytes of the last character
			c, err := f.r.Peek(1)
			if err != nil || c[0]&0xC0 != 0x80 {
				break
			}
		}
		c, err := f.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(buf) >= f.max {
			return nil, ErrFrameTooLarge
		}
		buf = append(buf, c)
		switch {
		case c < 0x80:
			units++
			pend = 0
		case c < 0xC0:
			if pend > 0 {
				pend--
			}
		case c < 0xE0:
			units++
			pend = 1
		case c < 0xF0:
			units++
			pend = 2
		default:
			units += 2
			pend = 3
		}
	}
	if units != n {
		// LEN ends in the middle of a surrogate pair: not a JavaScript
		// length of this text.
		return nil, ErrBadFraming
	}
	if cap(buf) <= 1<<20 {
		f.buf = buf
	}
	return buf, nil
}

// nextElement reads one entry of the single-array form.
func (f *FrameReader) nextElement() (Frame, error) {
	if !f.dec.More() {
		tok, err := f.dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Frame{}, io.ErrUnexpectedEOF
			}
			return Frame{}, fmt.Errorf("%w: %v", ErrBadFraming, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != ']' {
			return Frame{}, ErrBadFraming
		}
		f.whole = true
		return Frame{}, io.EOF
	}
	f.cnt.n = 0
	f.cnt.max = int64(f.max) + 64<<10 // the decoder reads ahead
	var raw json.RawMessage
	if err := f.dec.Decode(&raw); err != nil {
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			return Frame{}, ErrFrameTooLarge
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return Frame{}, io.ErrUnexpectedEOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Frame{}, fmt.Errorf("%w: %v", ErrBadFraming, err)
		}
		return Frame{}, err
	}
	if len(raw) > f.max {
		return Frame{}, ErrFrameTooLarge
	}
	return Frame{Entries: []json.RawMessage{raw}}, nil
}

// countingReader fails once more than max bytes were read since the last
// reset of n (max 0 = unbounded).
type countingReader struct {
	r      io.Reader
	n, max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.max > 0 && c.n >= c.max {
		return 0, ErrFrameTooLarge
	}
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
