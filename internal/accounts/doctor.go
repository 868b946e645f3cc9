package accounts

import (
	"context"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Problem is what the account doctor found wrong with an account.
type Problem string

// The doctor's problems (the "problem" of POST /api/accounts/{id}/test).
const (
	ProblemLoggedOut       Problem = "logged_out"       // the cookie no longer signs in: paste a fresh one
	ProblemRateLimited     Problem = "rate_limited"     // the upstream limits the account for now
	ProblemQuota           Problem = "quota"            // the account's quota is used up (daily)
	ProblemBlocked         Problem = "blocked"          // the upstream blocks the egress address, or demands attestation
	ProblemCloudflare      Problem = "cloudflare"       // an anti-bot challenge page answered
	ProblemNetwork         Problem = "network"          // the upstream could not be reached in time, or is down
	ProblemProtocolChanged Problem = "protocol_changed" // the upstream answered in a format spark does not know
	ProblemModelDowngraded Problem = "model_downgraded" // the upstream served another model than asked for
)

// ProblemFor classifies a gateway error code; ok is false for a code that
// names none of the problems (a spark failure, a refused request).
func ProblemFor(code gw.Code) (p Problem, ok bool) {
	switch code {
	case gw.CodeLoggedOut:
		return ProblemLoggedOut, true
	case gw.CodeRateLimited, gw.CodeNoAccounts:
		return ProblemRateLimited, true
	case gw.CodeQuotaExhausted:
		return ProblemQuota, true
	case gw.CodeIPBlocked, gw.CodeAttestation, gw.CodeUpstreamRejected:
		return ProblemBlocked, true
	case gw.CodeChallenged:
		return ProblemCloudflare, true
	case gw.CodeUnavailable, gw.CodeTransient, gw.CodeUpstreamTimeout, gw.CodeUpstream:
		return ProblemNetwork, true
	case gw.CodeProtocolChanged, gw.CodeBadModelOutput:
		return ProblemProtocolChanged, true
	case gw.CodeModelMismatch:
		return ProblemModelDowngraded, true
	}
	return "", false
}

// Verdict is the doctor's answer about one account.
type Verdict struct {
	OK bool
	// Problem is set when OK is false and the failure is one of the
	// problems ("" for another failure, such as a provider that cannot
	// test accounts).
	Problem Problem
	// Message explains the verdict; it never holds a secret.
	Message string
	// Models are the models the account serves, when the upstream says.
	Models []string
	// Latency is how long the round trip took.
	Latency time.Duration
}

// VerdictFor is the verdict of a failed check with err (a *gw.Error when
// the provider knows the cause).
func VerdictFor(err error, latency time.Duration) Verdict {
	e := gw.AsError(err)
	v := Verdict{Message: e.Message, Latency: latency}
	v.Problem, _ = ProblemFor(e.Code)
	return v
}

// Doctor tests an account with one real round trip to its upstream.
type Doctor interface {
	Test(ctx context.Context, acct store.Account) Verdict
}

// verdictJSON is a verdict as POST /api/accounts/{id}/test answers it.
type verdictJSON struct {
	OK        bool     `json:"ok"`
	Problem   *Problem `json:"problem"`
	Message   string   `json:"message"`
	Models    []string `json:"models"`
	LatencyMS int64    `json:"latency_ms"`
}

// test is POST /api/accounts/{id}/test: the account doctor. The account's
// state is not changed: the verdict is reported, and a reset or a new
// cookie is the owner's call.
func (h *Handler) test(w http.ResponseWriter, r *http.Request) {
	_, a, ok := h.callerAndAccount(w, r)
	if !ok {
		return
	}
	if h.opts.Doctor == nil {
		h.fail(w, r, &dashapi.Error{Status: http.StatusNotImplemented, Type: gw.CodeNotImplemented, Code: "no_doctor", Message: "Account tests are not available."})
		return
	}
	v := h.opts.Doctor.Test(r.Context(), a)
	dashapi.WriteJSON(w, http.StatusOK, VerdictJSON(v))
}

// VerdictJSON is v in the shape of the test route's answer.
func VerdictJSON(v Verdict) any {
	out := verdictJSON{OK: v.OK, Message: v.Message, Models: v.Models, LatencyMS: v.Latency.Milliseconds()}
	if out.Models == nil {
		out.Models = []string{}
	}
	if !v.OK && v.Problem != "" {
		p := v.Problem
		out.Problem = &p
	}
	return out
}
