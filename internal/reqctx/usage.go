package reqctx

import (
	"context"
	"sync"
	"time"
)

const usageKey ctxKey = 101

// Usage is the usage note of one client request. The server puts a new one
// into the request's context before the route's handler runs; the gateway
// fills it as it serves the request (requested and served model, account,
// tokens, first answer event, error class); the server reads it when the
// request has ended, to write the request's usage record. The methods are
// safe for concurrent use (a handler may end a stream on another
// goroutine) and do nothing on a nil *Usage, so code that fills it needs no
// check.
type Usage struct {
	mu sync.Mutex
	n  UsageNote
}

// UsageNote is what a Usage holds.
type UsageNote struct {
	Model       string // as the client asked
	ServedModel string // the catalog model the upstream was asked for
	AccountID   string // the account of the last upstream attempt
	Provider    string // the provider of the last upstream attempt
	ErrorClass  string // the gateway's error code of the failure the client saw
	// Tokens as reported to the client, summed over the request's answers.
	InputTokens, OutputTokens, ReasoningTokens int64
	FirstEvent                                 time.Time // when the first answer event reached the front-end
}

// WithUsage returns a copy of ctx carrying u.
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return context.WithValue(ctx, usageKey, u)
}

// UsageOf returns the usage note carried by ctx, or nil.
func UsageOf(ctx context.Context) *Usage {
	u, _ := ctx.Value(usageKey).(*Usage)
	return u
}

// SetModels records the model the client asked for and the one served.
func (u *Usage) SetModels(requested, served string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.n.Model, u.n.ServedModel = requested, served
	u.mu.Unlock()
}

// SetAccount records the account an attempt was made with.
func (u *Usage) SetAccount(id string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.n.AccountID = id
	u.mu.Unlock()
}

// SetProvider records the provider an attempt was made with.
func (u *Usage) SetProvider(name string) {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.n.Provider = name
	u.mu.Unlock()
}

// AddTokens adds an answer's token counts.
func (u *Usage) AddTokens(input, output, reasoning int64) {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.n.InputTokens += input
	u.n.OutputTokens += output
	u.n.ReasoningTokens += reasoning
	u.mu.Unlock()
}

// MarkFirstEvent records t as the time of the first answer event; later
// calls (events after the first, a second answer) change nothing.
func (u *Usage) MarkFirstEvent(t time.Time) {
	if u == nil {
		return
	}
	u.mu.Lock()
	if u.n.FirstEvent.IsZero() {
		u.n.FirstEvent = t
	}
	u.mu.Unlock()
}

// SetErrorClass records the error code of a failure the client sees.
func (u *Usage) SetErrorClass(code string) {
	if u == nil || code == "" {
		return
	}
	u.mu.Lock()
	u.n.ErrorClass = code
	u.mu.Unlock()
}

// Note returns what u holds (the zero note for a nil u).
func (u *Usage) Note() UsageNote {
	if u == nil {
		return UsageNote{}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}
