package wire_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		level  string // "" when nothing is logged
		status int
	}{
		{"OK", nil, "", http.StatusNoContent},
		{"ClientError", gw.Errorf(gw.CodeInvalidRequest, "bad"), "DEBUG", http.StatusTeapot},
		{"Canceled", gw.Errorf(gw.CodeCanceled, "gone"), "DEBUG", http.StatusTeapot},
		{"ServerError", gw.Errorf(gw.CodeUnavailable, "down"), "WARN", http.StatusTeapot},
		{"PlainError", errors.New("boom"), "WARN", http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var rendered error
			h := wire.Handle(log, "front", func(w http.ResponseWriter, r *http.Request) error {
				if tt.err == nil {
					w.WriteHeader(http.StatusNoContent)
				}
				return tt.err
			}, func(w http.ResponseWriter, err error) {
				rendered = err
				w.WriteHeader(http.StatusTeapot)
			})
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/things", nil)
			r = r.WithContext(reqctx.WithRequestID(r.Context(), "req_1"))
			h.ServeHTTP(rec, r)
			if rec.Code != tt.status || rendered != tt.err {
				t.Errorf("status %d, rendered %v", rec.Code, rendered)
			}
			out := logs.String()
			if tt.level == "" {
				if out != "" {
					t.Errorf("logged %s", out)
				}
				return
			}
			for _, want := range []string{"level=" + tt.level, `msg="front: request failed"`, "request_id=req_1", "path=/v1/things", "error="} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q lacks %q", out, want)
				}
			}
		})
	}
}

func TestLogger(t *testing.T) {
	l := wire.Logger(nil)
	if l == nil {
		t.Fatal("nil logger")
	}
	l.Error("discarded") // must not panic
	mine := slog.New(slog.NewTextHandler(io.Discard, nil))
	if wire.Logger(mine) != mine {
		t.Error("a given logger is replaced")
	}
}
