package metrics_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/metrics"
	"github.com/sparkgw/spark/internal/metrics/metricstest"
)

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	return metricstest.Scrape(t, m.Handler(), "/metrics")
}

func TestMismatch(t *testing.T) {
	for _, tt := range []struct {
		requested, served string
		want              bool
	}{
		{"gpt-5.1", "gpt-5.1", false},
		{"GPT-5.1", "gpt-5.1", false},
		{"gpt-4o", "gemini-3-pro", true},
		{"gpt-4o-2024-08-06", "gpt-4o", true},
		{"", "gpt-5.1", false},  // no model named
		{"nonsense", "", false}, // nothing served
	} {
		if got := metrics.Mismatch(tt.requested, tt.served); got != tt.want {
			t.Errorf("Mismatch(%q, %q) = %v, want %v", tt.requested, tt.served, got, tt.want)
		}
	}
}

// A client sending ever new model names cannot grow the registry: past
// MaxLabelValues the names are reported as "other".
func TestModelLabelsBounded(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	n := metrics.MaxLabelValues + 50
	for i := range n {
		name := fmt.Sprintf("model-%d", i)
		m.ObserveRequest(metrics.Request{Route: "POST /v1/chat/completions", RequestModel: name, ResponseModel: name, Status: 200, Duration: time.Millisecond})
	}
	f := scrape(t, m)
	series := f.Series("gen_ai_server_request_duration_seconds")
	if len(series) > metrics.MaxLabelValues+1 {
		t.Errorf("%d series, want at most %d", len(series), metrics.MaxLabelValues+1)
	}
	if v, _ := f.Value("gen_ai_server_request_duration_seconds", "gen_ai_request_model", metrics.OtherLabel); v != 50 {
		t.Errorf("requests labelled %q: %v, want 50", metrics.OtherLabel, v)
	}
	if v, _ := f.Value("gen_ai_server_request_duration_seconds"); v != float64(n) {
		t.Errorf("requests: %v, want %d (none lost)", v, n)
	}
}

// Observations past MaxPending between two flushes are dropped and
// counted, never blocking the caller.
func TestDropsWhenFull(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	for range metrics.MaxPending + 10 {
		m.ObserveAdmission(metrics.Admission{Wait: time.Microsecond})
	}
	f := scrape(t, m)
	dropped, _ := f.Value("spark_metrics_dropped_total")
	applied, _ := f.Value("spark_admission_wait_seconds")
	// The flusher may have run meanwhile: what was not applied was dropped.
	if dropped+applied != float64(metrics.MaxPending+10) || applied < float64(metrics.MaxPending) {
		t.Errorf("applied %v, dropped %v of %d", applied, dropped, metrics.MaxPending+10)
	}
}

// The accounts gauge reads the snapshot at each scrape.
func TestAccountsGauge(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	state := "active"
	m.WatchAccounts(func() []metrics.AccountState {
		return []metrics.AccountState{{Provider: "alpha", State: state}, {Provider: "alpha", State: "active"}, {Provider: "beta", State: "disabled"}}
	})
	f := scrape(t, m)
	if v, _ := f.Value("spark_accounts", "gen_ai_provider_name", "alpha", "state", "active"); v != 2 {
		t.Errorf("alpha active = %v, want 2", v)
	}
	state = "resting"
	f = scrape(t, m)
	if v, _ := f.Value("spark_accounts", "gen_ai_provider_name", "alpha", "state", "resting"); v != 1 {
		t.Errorf("alpha resting after the change = %v, want 1", v)
	}
}

// Errors counted through ErrorCounter appear by operation; a nil *Metrics
// counts nothing and does not panic.
func TestErrorCounters(t *testing.T) {
	m := metrics.New()
	defer m.Close()
	var c metrics.ErrorCounter = m
	c.RedisError("admit")
	c.RedisError("admit")
	c.DatabaseError("add_usage")
	m.UpstreamError("alpha", "rate_limited")
	f := scrape(t, m)
	for _, tt := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"spark_redis_errors_total", []string{"op", "admit"}, 2},
		{"spark_database_errors_total", []string{"op", "add_usage"}, 1},
		{"spark_upstream_errors_total", []string{"gen_ai_provider_name", "alpha", "error_type", "rate_limited"}, 1},
	} {
		if v, _ := f.Value(tt.family, tt.labels...); v != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.family, tt.labels, v, tt.want)
		}
	}
	var off *metrics.Metrics
	off.RedisError("x")
	off.DatabaseError("x")
	off.UpstreamError("a", "b")
	off.ObserveRequest(metrics.Request{})
	off.ObserveAdmission(metrics.Admission{Wait: 1, RefusedBy: "ip"})
	off.WatchAccounts(nil)
	off.Flush()
	if err := off.Close(); err != nil {
		t.Error(err)
	}
}

// Close applies what is pending; observations after it are dropped.
func TestCloseFlushes(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest(metrics.Request{Route: "r", Status: 200, Duration: time.Second})
	m.Close()
	m.ObserveRequest(metrics.Request{Route: "r", Status: 200, Duration: time.Second})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	f := metricstest.Parse(t, w.Body.String())
	if v, _ := f.Value("gen_ai_server_request_duration_seconds"); v != 1 {
		t.Errorf("requests after Close = %v, want 1", v)
	}
}
