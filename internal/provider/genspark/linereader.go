package genspark

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// Buffer sizes of lineReader.
const (
	// idleBufSize is the buffer a stream keeps while it waits for the
	// upstream: one typical event (a delta line is about 200 bytes), so an
	// open stream that trickles holds little.
	idleBufSize = 512
	// burstBufSize is the buffer a stream borrows from a pool while the
	// upstream sends faster than it is read, so that several events are
	// decoded per read (and seen by Buffered).
	burstBufSize = 4 << 10
)

var burstBufs = sync.Pool{New: func() any { return new([burstBufSize]byte) }}

// lineReader reads lines like bufio.Reader.ReadSlice, with a buffer that
// follows the traffic: a small one of its own while idle, a larger pooled
// one from the moment a read fills the small one until everything read was
// consumed (it is given back before the next read, which may wait).
type lineReader struct {
	rd    io.Reader
	buf   []byte // small[:] or burst[:]
	r, w  int    // buf[r:w] is buffered
	err   error  // from rd, returned once buf[r:w] is consumed
	burst *[burstBufSize]byte
	small [idleBufSize]byte
}

func newLineReader(rd io.Reader) *lineReader {
	l := &lineReader{rd: rd}
	l.buf = l.small[:]
	return l
}

// Buffered returns the number of bytes that can be read without reading
// from the underlying reader.
func (l *lineReader) Buffered() int { return l.w - l.r }

// Peek returns the buffered bytes, valid until the next read.
func (l *lineReader) Peek() []byte { return l.buf[l.r:l.w] }

// ReadSlice reads until the first '\n' and returns a slice of the buffer
// holding the line, '\n' included, valid until the next read. Like
// bufio.Reader.ReadSlice it returns bufio.ErrBufferFull with the whole
// buffer when the buffer is full without a '\n', and the remaining bytes
// with the reader's error at its end.
func (l *lineReader) ReadSlice() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.r:l.w], '\n'); i >= 0 {
			line := l.buf[l.r : l.r+i+1]
			l.r += i + 1
			return line, nil
		}
		if l.err != nil {
			line := l.buf[l.r:l.w]
			l.r = l.w
			err := l.err
			l.err = nil
			return line, err
		}
		if l.r == 0 && l.w == len(l.buf) {
			if l.burst == nil {
				l.grow()
				continue
			}
			l.r = l.w
			return l.buf, bufio.ErrBufferFull
		}
		l.fill()
	}
}

// fill reads once more into the buffer.
func (l *lineReader) fill() {
	if l.r > 0 {
		copy(l.buf, l.buf[l.r:l.w])
		l.w -= l.r
		l.r = 0
	}
	if l.w == 0 && l.burst != nil {
		l.release() // all consumed: wait for the upstream with the small buffer
	}
	for range 100 {
		n, err := l.rd.Read(l.buf[l.w:])
		l.w += n
		if err != nil {
			l.err = err
			return
		}
		if n > 0 {
			if l.burst == nil && l.w == len(l.buf) {
				l.grow() // a burst: read the rest of it in larger pieces
			}
			return
		}
	}
	l.err = io.ErrNoProgress
}

// grow moves the buffered bytes to a pooled burst buffer.
func (l *lineReader) grow() {
	b := burstBufs.Get().(*[burstBufSize]byte)
	l.w = copy(b[:], l.buf[l.r:l.w])
	l.r = 0
	l.burst, l.buf = b, b[:]
}

// release gives the burst buffer back; nothing may be buffered.
func (l *lineReader) release() {
	if l.burst == nil {
		return
	}
	burstBufs.Put(l.burst)
	l.burst, l.buf = nil, l.small[:]
	l.r, l.w = 0, 0
}

// Read reads buffered bytes, then from the underlying reader.
func (l *lineReader) Read(p []byte) (int, error) {
	if l.r < l.w {
		n := copy(p, l.buf[l.r:l.w])
		l.r += n
		return n, nil
	}
	if l.err != nil {
		err := l.err
		l.err = nil
		return 0, err
	}
	return l.rd.Read(p)
}

// Close gives the burst buffer back; the reader must not be used after.
func (l *lineReader) Close() {
	l.r, l.w = 0, 0
	l.release()
}
