// Package tokens estimates token counts offline with the o200k vocabulary
// embedded in github.com/tiktoken-go/tokenizer (no download at start-up).
// Counts for non-OpenAI models are estimates; spark counts once per request,
// never per streamed chunk.
package tokens

import (
	"hash/maphash"
	"sync"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/tiktoken-go/tokenizer"
)

var (
	codecOnce sync.Once
	codec     tokenizer.Codec
)

func getCodec() tokenizer.Codec {
	codecOnce.Do(func() {
		c, err := tokenizer.Get(tokenizer.O200kBase)
		if err == nil {
			codec = c
		}
	})
	return codec
}

// Warm loads the vocabulary now, so the first request does not pay for it.
func Warm() { getCodec() }

// Count returns the estimated number of tokens in s.
func Count(s string) int {
	if s == "" {
		return 0
	}
	if c := getCodec(); c != nil {
		if n, err := c.Count(s); err == nil {
			return n
		}
	}
	// Fallback: roughly four bytes per token.
	return (utf8.RuneCountInString(s) + 3) / 4
}

// perMessage is the framing overhead OpenAI's chat format adds per message.
const perMessage = 3

// imageTokens is a flat estimate for one attached image or file.
const imageTokens = 258

// promptCache remembers the counts of prompt texts: clients resend the
// system prompt, the tool definitions and the whole history with every
// request of a conversation, and the tokenizer costs about 0.1 µs per byte
// plus a few µs per call. Keys are a 64-bit hash and the length; a
// collision (about 2^-64 per lookup) would only skew an estimate.
var promptCache = struct {
	sync.Mutex
	m map[promptKey]int
}{m: map[promptKey]int{}}

type promptKey struct {
	h uint64
	n int
}

// promptCacheSize bounds the cache; it is emptied when full.
const promptCacheSize = 16384

var promptSeed = maphash.MakeSeed()

// countPrompt is Count for prompt texts, through promptCache.
func countPrompt(s string) int {
	if s == "" {
		return 0
	}
	k := promptKey{maphash.String(promptSeed, s), len(s)}
	promptCache.Lock()
	n, ok := promptCache.m[k]
	promptCache.Unlock()
	if ok {
		return n
	}
	n = Count(s)
	promptCache.Lock()
	if len(promptCache.m) >= promptCacheSize {
		clear(promptCache.m)
	}
	promptCache.m[k] = n
	promptCache.Unlock()
	return n
}

// Prompt estimates the prompt tokens of a request: message texts, tool
// calls and results, tool definitions, and a flat cost per attachment.
// Texts seen in recent requests are not tokenized again.
func Prompt(req *llm.Request) int {
	n := 3
	for _, m := range req.Messages {
		n += perMessage
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartText, llm.PartReasoning:
				n += countPrompt(p.Text)
			case llm.PartImage, llm.PartFile:
				n += imageTokens
			case llm.PartToolCall:
				n += countPrompt(p.ToolCall.Name) + countPrompt(p.ToolCall.Arguments)
			case llm.PartToolResult:
				n += countPrompt(p.ToolResult.Content)
			}
		}
	}
	for _, t := range req.Tools {
		n += countPrompt(t.Name) + countPrompt(t.Description) + countPrompt(string(t.Parameters))
	}
	return n
}

// DefaultCounterBatch is how much uncounted text a Counter holds before it
// counts a batch.
const DefaultCounterBatch = 16 << 10

// Counter counts the tokens of a text that arrives in pieces (a streamed
// answer) without keeping the whole text: pieces are buffered and counted in
// batches of about DefaultCounterBatch bytes, each cut where the tokenizer's
// pre-tokenization splits anyway (a single space between two ASCII letters),
// so Total equals Count of the whole text. Text without such a place (e.g.
// CJK without spaces) stays buffered until Total. The zero value is ready to
// use; a Counter is not safe for concurrent use.
type Counter struct {
	buf   []byte
	n     int // tokens of the text counted so far
	batch int // 0 means DefaultCounterBatch
}

// Add appends s to the text.
func (c *Counter) Add(s string) {
	if s == "" {
		return
	}
	c.buf = append(c.buf, s...)
	batch := c.batch
	if batch <= 0 {
		batch = DefaultCounterBatch
	}
	if len(c.buf) < batch {
		return
	}
	cut := safeCut(c.buf)
	if cut <= 0 {
		return
	}
	c.n += Count(string(c.buf[:cut]))
	rest := copy(c.buf, c.buf[cut:])
	c.buf = c.buf[:rest]
	if cap(c.buf) > 4*batch {
		c.buf = append([]byte(nil), c.buf...) // a long run without a cut is over
	}
}

// Total returns the number of tokens of all the text added.
func (c *Counter) Total() int { return c.n + Count(string(c.buf)) }

// safeCut returns the last index i of b where b[i] is a space between two
// ASCII letters, or 0. The o200k pre-tokenizer never joins a letter run with
// a following space (its word patterns take letters, marks and a trailing
// contraction; a space can only lead a pre-token), and a pre-token that
// starts with a space before a letter does not depend on what precedes it;
// so counting b[:i] and b[i:] separately gives Count(b).
func safeCut(b []byte) int {
	for i := len(b) - 2; i > 0; i-- {
		if b[i] == ' ' && isASCIILetter(b[i-1]) && isASCIILetter(b[i+1]) {
			return i
		}
	}
	return 0
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
