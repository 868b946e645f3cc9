package reqctx_test

import (
	"context"
	"testing"

	"github.com/sparkgw/spark/internal/reqctx"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	if reqctx.KeyID(ctx) != "" || reqctx.RequestID(ctx) != "" {
		t.Fatal("empty context carries values")
	}
	ctx = reqctx.WithKeyID(ctx, "key-1")
	ctx = reqctx.WithRequestID(ctx, "req-1")
	if got := reqctx.KeyID(ctx); got != "key-1" {
		t.Errorf("KeyID = %q", got)
	}
	if got := reqctx.RequestID(ctx); got != "req-1" {
		t.Errorf("RequestID = %q", got)
	}
}
