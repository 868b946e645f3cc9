package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/tokens"
)

// fakeStream replays events; the first ready of them count as already
// received (Buffered), the rest as still on the wire.
type fakeStream struct {
	evs    []llm.Event
	ready  int
	closed bool
}

func (s *fakeStream) Recv() (llm.Event, error) {
	if len(s.evs) == 0 {
		return llm.Event{}, io.EOF
	}
	ev := s.evs[0]
	s.evs = s.evs[1:]
	if s.ready > 0 {
		s.ready--
	}
	return ev, nil
}

func (s *fakeStream) Buffered() bool { return s.ready > 0 && len(s.evs) > 0 }

func (s *fakeStream) Close() error { s.closed = true; return nil }

type fakeProvider struct {
	mu      sync.Mutex
	answer  func() *fakeStream
	streams []*fakeStream
}

func (p *fakeProvider) Name() string                           { return "fake" }
func (p *fakeProvider) Models(context.Context) []llm.ModelInfo { return nil }
func (p *fakeProvider) Resolve(model string) (provider.Match, bool) {
	return provider.Match{Model: llm.ModelInfo{ID: model, Kind: llm.KindChat}}, true
}

func (p *fakeProvider) Chat(context.Context, *gw.Account, *llm.Request) (llm.Stream, error) {
	st := p.answer()
	p.mu.Lock()
	p.streams = append(p.streams, st)
	p.mu.Unlock()
	return st, nil
}

type fakePool struct{ acct gw.Account }

type fakeLease struct {
	acct    *gw.Account
	outcome *error
}

func (l fakeLease) Account() *gw.Account  { return l.acct }
func (l fakeLease) Release(outcome error) { *l.outcome = outcome }

func (p *fakePool) Acquire(context.Context, pool.Request) (pool.Lease, error) {
	var outcome error
	return fakeLease{acct: &p.acct, outcome: &outcome}, nil
}

func newService(answer func() *fakeStream, hide bool) (*gateway.Service, *fakeProvider) {
	p := &fakeProvider{answer: answer}
	return gateway.New(gateway.Options{
		Registry:      provider.NewRegistry(p),
		Pool:          &fakePool{acct: gw.Account{ID: "acct_1", Provider: "fake"}},
		HideReasoning: hide,
	}), p
}

func text(s string) llm.Event { return llm.Event{Type: llm.EventTextDelta, Text: s} }

func request() *llm.Request {
	return &llm.Request{Model: "m", Messages: []llm.Message{
		llm.TextMessage(llm.RoleSystem, "You are terse."),
		llm.TextMessage(llm.RoleUser, "What is the weather in Paris today?"),
	}}
}

// The usage event counts the prompt and the whole answer once, exactly as
// counting the accumulated text would, also for answers longer than one
// counting batch.
func TestUsage(t *testing.T) {
	var words []string
	for i := range 12000 {
		words = append(words, []string{"Paris ", "is ", "sunny, ", "22°C ", "today.\n", "ok ", "x"}[i%7])
	}
	answer := strings.Join(words, "")
	svc, _ := newService(func() *fakeStream {
		var evs []llm.Event
		for _, w := range words {
			evs = append(evs, text(w))
		}
		evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Text: "Let me think."},
			llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: 1}},
			llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
		return &fakeStream{evs: evs}
	}, false)
	req := request()
	st, err := svc.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ans, err := llm.Collect(st)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Text != answer || ans.Reasoning != "Let me think." {
		t.Fatalf("answer %d bytes, reasoning %q", len(ans.Text), ans.Reasoning)
	}
	reasoning := tokens.Count("Let me think.")
	want := llm.Usage{PromptTokens: tokens.Prompt(req), CompletionTokens: tokens.Count(answer) + reasoning, ReasoningTokens: reasoning}
	if ans.Usage == nil || *ans.Usage != want {
		t.Fatalf("usage %+v, want %+v", ans.Usage, want)
	}
}

// Buffered passes on what the provider has ready, does not count events the
// gateway drops, and is false before the usage event and at the end.
func TestBuffered(t *testing.T) {
	svc, _ := newService(func() *fakeStream {
		return &fakeStream{ready: 4, evs: []llm.Event{
			text("a"), text("b"),
			{Type: llm.EventReasoningDelta, Text: "hidden"}, // dropped
			text("c"),
			text("d"), // on the wire
			{Type: llm.EventFinish, FinishReason: llm.FinishStop},
		}}
	}, true)
	st, err := svc.Chat(t.Context(), request())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	step := func(wantText string, wantBuffered bool) {
		t.Helper()
		ev, err := st.Recv()
		if err != nil || ev.Text != wantText {
			t.Fatalf("Recv = %+v, %v; want text %q", ev, err, wantText)
		}
		if got := llm.Buffered(st); got != wantBuffered {
			t.Fatalf("after %q: Buffered = %v, want %v", wantText, got, wantBuffered)
		}
	}
	// "a" was peeked by Chat; "b" and "c" are ready ("hidden" is
	// skipped); "d" is not.
	step("a", true)
	step("b", true)
	step("c", false)
	step("d", false)
	ev, err := st.Recv()
	if err != nil || ev.Type != llm.EventFinish {
		t.Fatalf("Recv = %+v, %v; want the finish", ev, err)
	}
	if llm.Buffered(st) {
		t.Fatal("Buffered before the usage event")
	}
	if ev, err := st.Recv(); err != nil || ev.Type != llm.EventUsage {
		t.Fatalf("Recv = %+v, %v; want usage", ev, err)
	}
	if llm.Buffered(st) {
		t.Fatal("Buffered at the end")
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("err %v, want EOF", err)
	}
}

// A provider stream without Buffered is never reported as buffered.
func TestBufferedNeedsProviderSupport(t *testing.T) {
	svc, _ := newService(func() *fakeStream { return &fakeStream{ready: 3, evs: []llm.Event{text("a"), text("b"), text("c")}} }, false)
	st, err := svc.Chat(t.Context(), request())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !llm.Buffered(st) {
		t.Fatal("peeked first event not reported")
	}
	if llm.Buffered(plainStream{st}) {
		t.Fatal("a stream without Buffered reported as buffered")
	}
}

type plainStream struct{ llm.Stream }

// BenchmarkChat answers a 200-delta stream through the gateway over a
// provider that costs nothing: the gateway's own cost per answer.
func BenchmarkChat(b *testing.B) {
	evs := make([]llm.Event, 0, 201)
	for i := range 200 {
		evs = append(evs, text([]string{"The ", "weather ", "in ", "Paris ", "is ", "mild.\n"}[i%6]))
	}
	evs = append(evs, llm.Event{Type: llm.EventFinish, FinishReason: llm.FinishStop})
	svc, _ := newService(func() *fakeStream { return &fakeStream{evs: evs} }, false)
	req := request()
	b.ReportAllocs()
	for b.Loop() {
		st, err := svc.Chat(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := st.Recv(); err != nil {
				break
			}
		}
		st.Close()
	}
}

// A provider that panics while opening the answer (on the gateway's own
// goroutine) panics on the caller's goroutine instead, where the server's
// recovery turns it into a 500: with the original value (so that
// http.ErrAbortHandler keeps aborting quietly), the stack of the goroutine
// that panicked in the log.
func TestChatPanicReachesTheCaller(t *testing.T) {
	for _, tt := range []struct {
		name     string
		value    any
		logStack bool
	}{
		{"value", "provider exploded", true},
		{"ErrAbortHandler", http.ErrAbortHandler, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			p := &fakeProvider{answer: func() *fakeStream { panic(tt.value) }}
			svc := gateway.New(gateway.Options{
				Registry: provider.NewRegistry(p),
				Pool:     &fakePool{acct: gw.Account{ID: "acct_1", Provider: "fake"}},
				Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
			})
			defer func() {
				if v := recover(); v != tt.value {
					t.Fatalf("recovered %#v, want the provider's own value %#v", v, tt.value)
				}
				if got := strings.Contains(logs.String(), "fakeProvider"); got != tt.logStack {
					t.Fatalf("stack logged = %v, want %v: %s", got, tt.logStack, logs.String())
				}
			}()
			st, err := svc.Chat(context.Background(), request())
			t.Fatalf("Chat returned (%v, %v) instead of panicking", st, err)
		})
	}
}

// REASONING_HIDE hides reasoning from the answer, wherever it arrives
// (before the first event shown, taken ahead by Buffered, or read by Recv),
// and the usage still counts it: the same usage as when it is shown.
func TestHiddenReasoningIsCounted(t *testing.T) {
	answer := func() *fakeStream {
		return &fakeStream{ready: 4, evs: []llm.Event{
			{Type: llm.EventReasoningDelta, Text: "Let me think "}, // skipped while opening
			text("It is "),
			{Type: llm.EventReasoningDelta, Text: "about the weather "}, // taken by Buffered
			text("sunny."),
			{Type: llm.EventReasoningDelta, Text: "and more."}, // read by Recv
			{Type: llm.EventFinish, FinishReason: llm.FinishStop},
		}}
	}
	usage := map[bool]*llm.Usage{}
	for _, hide := range []bool{false, true} {
		svc, _ := newService(answer, hide)
		st, err := svc.Chat(t.Context(), request())
		if err != nil {
			t.Fatal(err)
		}
		var ans llm.Answer
		for {
			_ = llm.Buffered(st) // takes ready events ahead, as the front-ends do
			ev, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case llm.EventReasoningDelta:
				ans.Reasoning += ev.Text
			case llm.EventTextDelta:
				ans.Text += ev.Text
			case llm.EventUsage:
				ans.Usage = ev.Usage
			}
		}
		st.Close()
		if want := "It is sunny."; ans.Text != want {
			t.Fatalf("hide=%v: text %q, want %q", hide, ans.Text, want)
		}
		if hide != (ans.Reasoning == "") {
			t.Fatalf("hide=%v: reasoning %q", hide, ans.Reasoning)
		}
		usage[hide] = ans.Usage
	}
	reasoning := tokens.Count("Let me think about the weather and more.")
	if u := usage[true]; u == nil || u.ReasoningTokens != reasoning || *u != *usage[false] {
		t.Fatalf("usage hidden %+v, shown %+v; want %d reasoning tokens in both", usage[true], usage[false], reasoning)
	}
}

// A model name over llm.MaxModelBytes is refused before any provider is
// asked (providers store model names in their chat bindings), whichever
// front-end sent it.
func TestLongModelNameIsRefused(t *testing.T) {
	svc, p := newService(func() *fakeStream { return &fakeStream{evs: []llm.Event{text("a")}} }, false)
	req := request()
	req.Model = strings.Repeat("m", llm.MaxModelBytes+1)
	st, err := svc.Chat(t.Context(), req)
	if st != nil || gw.ErrorCode(err) != gw.CodeInvalidRequest || gw.AsError(err).Param != "model" {
		t.Fatalf("Chat = %v, %v; want a 400 about the model", st, err)
	}
	if len(p.streams) != 0 {
		t.Fatal("the provider was asked")
	}
	req.Model = strings.Repeat("m", llm.MaxModelBytes)
	st, err = svc.Chat(t.Context(), req)
	if err != nil {
		t.Fatalf("a %d-byte name: %v", llm.MaxModelBytes, err)
	}
	st.Close()
}

// catalogProvider serves a small catalog, gpt-4o as an alias of
// gemini-3-flash, and every other name through a catch-all whose own id
// is "catch-all".
type catalogProvider struct{ fakeProvider }

func (p *catalogProvider) Resolve(model string) (provider.Match, bool) {
	for _, id := range []string{"claude-sonnet-4-5", "gemini-3-flash"} {
		if strings.EqualFold(model, id) {
			return provider.Match{Model: llm.ModelInfo{ID: id, Kind: llm.KindChat}}, true
		}
	}
	return provider.Match{Fallback: true, CatchAllID: "catch-all", Model: llm.ModelInfo{ID: model, Kind: llm.KindChat}}, true
}

func (p *catalogProvider) Aliases(model string) []string {
	if model == "gpt-4o" {
		return []string{"gemini-3-flash"}
	}
	return nil
}

// The gateway's stream reports the model the request resolved to, never a
// name only the client chose: the catalog id of an exact name (unchanged),
// of the model serving an alias, the catch-all's own id for a name only
// the catch-all takes, and a dated Claude id as the Anthropic API echoes it.
func TestStreamReportsTheResolvedModel(t *testing.T) {
	p := &catalogProvider{fakeProvider{answer: func() *fakeStream { return &fakeStream{evs: []llm.Event{text("a")}} }}}
	svc := gateway.New(gateway.Options{
		Registry: provider.NewRegistry(p),
		Pool:     &fakePool{acct: gw.Account{ID: "acct_1", Provider: "fake"}},
	})
	for _, tc := range []struct{ name, requested, want string }{
		{"exact", "gemini-3-flash", "gemini-3-flash"},
		{"exact in another case", "Gemini-3-Flash", "gemini-3-flash"},
		{"dated Claude id", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"},
		{"-latest Claude id", "claude-sonnet-4-5-latest", "claude-sonnet-4-5"},
		{"alias", "gpt-4o", "gemini-3-flash"},
		{"catch-all", "whatever-the-client-wants", "catch-all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request()
			req.Model = tc.requested
			st, err := svc.Chat(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := llm.ModelOf(st, tc.requested); got != tc.want {
				t.Fatalf("the stream reports %q for %q, want %q", got, tc.requested, tc.want)
			}
		})
	}
}

// recordingPool leases one account and records each pool request.
type recordingPool struct {
	mu   sync.Mutex
	reqs []pool.Request
}

func (p *recordingPool) Acquire(_ context.Context, r pool.Request) (pool.Lease, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()
	var outcome error
	return fakeLease{acct: &gw.Account{ID: "acct_1", Provider: "fake"}, outcome: &outcome}, nil
}

// A key's grant limits the models by the id the name resolves to (an
// alias, a dated or -latest name, a case variant cannot bypass it; a name
// only the catch-all takes is the catch-all's model) with a 403 naming the
// allowed ones and no upstream call; and every lease is limited to the
// grant's owners.
func TestGrantLimitsModelsAndAccounts(t *testing.T) {
	p := &catalogProvider{fakeProvider{answer: func() *fakeStream { return &fakeStream{evs: []llm.Event{text("a")}} }}}
	rp := &recordingPool{}
	svc := gateway.New(gateway.Options{Registry: provider.NewRegistry(p), Pool: rp})
	grant := &reqctx.Grant{KeyID: "key_1", OwnerID: "usr_a", Owners: []string{"usr_a"}, Models: []string{"claude-sonnet-4-5"}}
	ctx := reqctx.WithGrant(t.Context(), grant)
	for _, tc := range []struct {
		requested string
		allowed   bool
	}{
		{"claude-sonnet-4-5", true},
		{"Claude-Sonnet-4-5", true},
		{"claude-sonnet-4-5-20250929", true},
		{"claude-sonnet-4-5-latest", true},
		{"gemini-3-flash", false},
		{"gpt-4o", false},                           // an alias of gemini-3-flash
		{"claude-sonnet-4-5-but-not-really", false}, // the catch-all
	} {
		t.Run(tc.requested, func(t *testing.T) {
			before := len(p.streams)
			req := request()
			req.Model = tc.requested
			st, err := svc.Chat(ctx, req)
			if tc.allowed {
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
				return
			}
			ge := gw.AsError(err)
			if st != nil || ge == nil || ge.Code != gw.CodeForbidden || !strings.Contains(ge.Message, "claude-sonnet-4-5") ||
				!strings.Contains(ge.Message, tc.requested) {
				t.Fatalf("Chat = %v, %v; want a 403 naming the model and the allowed ones", st, err)
			}
			if len(p.streams) != before {
				t.Fatal("the provider was asked")
			}
		})
	}
	if len(rp.reqs) != 4 {
		t.Fatalf("%d leases, want 4", len(rp.reqs))
	}
	for _, r := range rp.reqs {
		if !slices.Equal(r.Owners, []string{"usr_a"}) {
			t.Fatalf("lease for owners %q, want the grant's", r.Owners)
		}
	}
	// A grant naming only its owner leases that owner's accounts; without
	// a grant (authentication off), any account.
	rp.reqs = nil
	st, err := svc.Chat(reqctx.WithGrant(t.Context(), &reqctx.Grant{OwnerID: "usr_b"}), request())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = svc.Chat(t.Context(), request())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if len(rp.reqs) != 2 || !slices.Equal(rp.reqs[0].Owners, []string{"usr_b"}) || rp.reqs[1].Owners != nil {
		t.Fatalf("leases %+v", rp.reqs)
	}
}
