package reqctx

import "context"

const grantKey ctxKey = 102

// Grant is what the client API key that authenticated a request allows
// beyond the route itself: whose accounts may serve it and which models it
// may use. The server puts it into the request's context after checking
// the key; the gateway reads it when it resolves the model and leases an
// account. A request without a Grant (authentication off) may use any
// account and any model.
type Grant struct {
	KeyID   string // the key's id ("env:N" for an API_SECRET entry)
	OwnerID string // the user who owns the key; "" is the built-in admin
	// Owners are the users whose accounts serve the key (its owner; for
	// the built-in admin both "" and their user id), besides the accounts
	// an admin shared.
	Owners []string
	// Models are the catalog model ids the key may use; nil: any.
	Models []string
}

// WithGrant returns a copy of ctx carrying g.
func WithGrant(ctx context.Context, g *Grant) context.Context {
	return context.WithValue(ctx, grantKey, g)
}

// GrantOf returns the grant carried by ctx, or nil.
func GrantOf(ctx context.Context) *Grant {
	g, _ := ctx.Value(grantKey).(*Grant)
	return g
}

// AllowsModel reports whether g lets a request use the model with the
// catalog id id (a nil Grant or an empty list allows every model).
func (g *Grant) AllowsModel(id string) bool {
	if g == nil || len(g.Models) == 0 {
		return true
	}
	for _, m := range g.Models {
		if m == id {
			return true
		}
	}
	return false
}
