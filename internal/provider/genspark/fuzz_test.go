package genspark_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// FuzzParseStream feeds arbitrary bodies to the stream parser: it must
// never panic, must end, and must never report success without an answer.
// Seeds: testdata/fuzz/FuzzParseStream, the fixtures and the transcripts.
func FuzzParseStream(f *testing.F) {
	f.Add([]byte(transcriptPython))
	f.Add([]byte(transcriptCompact))
	f.Add([]byte(cfChallengeMultiline))
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.txt"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := genspark.ParseStream(bytes.NewReader(body), genspark.ParseOptions{MaxLineBytes: 4096})
		var acc llm.Accumulator
		finished := false
		for i := 0; ; i++ {
			if i > len(body)+8 {
				t.Fatalf("more events (%d) than input bytes", i)
			}
			ev, err := s.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					var ge *gw.Error
					if !errors.As(err, &ge) || ge.Provider != "genspark" || ge.Message == "" {
						t.Fatalf("error %v is not a genspark *gw.Error", err)
					}
					return
				}
				break
			}
			if finished {
				t.Fatalf("event %+v after EventFinish", ev)
			}
			if ev.Type == llm.EventFinish {
				finished = true
			}
			acc.Add(ev)
		}
		a := acc.Answer()
		if !finished || a.Text == "" && a.Reasoning == "" {
			t.Fatalf("success without an answer: finished %v, answer %+v", finished, a)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
