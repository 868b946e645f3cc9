package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
)

type discardUsage struct{}

func (discardUsage) Record(store.UsageRecord) bool { return true }

// BenchmarkServeUsage compares the server's per-request cost with usage
// accounting off and on (the recorder replaced by one that drops).
func BenchmarkServeUsage(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		opts := server.Options{Keys: keys{"sk-good": "key_1"}}
		if on {
			name, opts.Usage = "on", discardUsage{}
		}
		b.Run(name, func(b *testing.B) {
			s := server.New(opts)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := reqctx.UsageOf(r.Context())
				n.SetModels("gpt-5.1", "gpt-5.1")
				n.SetAccount("acct_1")
				n.AddTokens(1, 2, 3)
				_, _ = w.Write([]byte("ok"))
			})
			if err := s.Handle(route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Handler: h}); err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.Header.Set("Authorization", "Bearer sk-good")
			b.ReportAllocs()
			for b.Loop() {
				s.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
