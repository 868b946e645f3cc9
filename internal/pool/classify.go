package pool

import "github.com/sparkgw/spark/internal/gw"

// Class is what a request's outcome means for the account that served it.
type Class int

// Failure classes.
const (
	// ClassNone does not count against the account: success, the client
	// cancelled, the client's own mistake, spark's own bug, content the
	// upstream refuses whoever asks.
	ClassNone Class = iota
	// ClassRateLimited rests the account at once for the upstream's wait,
	// else RateLimitRest.
	ClassRateLimited
	// ClassQuota rests the account at once for the upstream's wait, else
	// QuotaRest (the daily quota is used up).
	ClassQuota
	// ClassLoggedOut disables the account until its cookie is updated.
	ClassLoggedOut
	// ClassBlocked rests the account at once for BlockedRest (Cloudflare
	// challenge, blocked egress IP); the log suggests PROXY_URL.
	ClassBlocked
	// ClassTransient counts towards passive health: FailureThreshold of
	// them within FailureWindow rest the account for TransientRest.
	ClassTransient
)

// String returns the class name used in logs.
func (c Class) String() string {
	switch c {
	case ClassRateLimited:
		return "rate_limited"
	case ClassQuota:
		return "quota_exhausted"
	case ClassLoggedOut:
		return "logged_out"
	case ClassBlocked:
		return "blocked"
	case ClassTransient:
		return "transient"
	}
	return "none"
}

// Classify returns the class of a request's outcome (nil = success) from
// its gw.Code; errors that are not *gw.Error are classified as gw.AsError
// sees them (context cancellation → none, deadline → transient, anything
// else → internal → none).
func Classify(outcome error) Class {
	if outcome == nil {
		return ClassNone
	}
	switch gw.ErrorCode(outcome) {
	case gw.CodeRateLimited:
		return ClassRateLimited
	case gw.CodeQuotaExhausted:
		return ClassQuota
	case gw.CodeLoggedOut:
		return ClassLoggedOut
	case gw.CodeChallenged, gw.CodeIPBlocked:
		return ClassBlocked
	case gw.CodeTransient, gw.CodeUnavailable, gw.CodeUpstreamTimeout, gw.CodeUpstream,
		gw.CodeProtocolChanged, gw.CodeAttestation:
		return ClassTransient
	}
	return ClassNone
}
