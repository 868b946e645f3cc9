package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// variant is one spark configuration a comparison phase measures: its own
// process (started with startExtraSpark) on its own DATA_DIR (or
// database), reached with its own client key.
type variant struct {
	key   string // figure-name part: off, usage, on, embedded, redis, pgredis
	label string // as printed
	env   []string

	// policy, when set, is the key minted through POST /api/keys (by the
	// built-in admin, SPARK_ADMIN_EMAIL) that the load uses instead of
	// API_SECRET.
	policy *keyPolicy
	// metrics serves /metrics on a listener of its own (METRICS_ADDR),
	// scraped while the variant is measured.
	metrics bool

	t           *target
	p           *proc
	base        string       // http://host:port
	session     *http.Client // the admin's dashboard session (policy only)
	keyID       string       // the minted key's id (policy only)
	metricsAddr string       // host:port of METRICS_ADDR (metrics only)
}

// keyPolicy is what POST /api/keys is asked for.
type keyPolicy struct {
	Models         []string `json:"models"`
	RPM            int      `json:"rpm"`
	MaxConcurrency int      `json:"max_concurrency"`
	TokenQuota     int64    `json:"token_quota"`
}

// String describes the policy for the report.
func (k keyPolicy) String() string {
	return fmt.Sprintf("models %s, rpm %s, max_concurrency %d, token_quota %s", strings.Join(k.Models, ", "), thousands(k.RPM), k.MaxConcurrency, thousands(int(k.TokenQuota)))
}

// The built-in admin every variant with a key policy is started with; it
// mints the variant's key.
const benchAdminEmail = "bench@example.com"

// start starts the variant's spark process and, with a policy, mints its
// key.
func (v *variant) start(ctx context.Context, r *runner) error {
	env := slices.Clone(v.env)
	password := ""
	if v.policy != nil {
		password = "bench-" + rand.Text()
		env = append(env, "SPARK_ADMIN_EMAIL="+benchAdminEmail, "SPARK_ADMIN_PASSWORD="+password, "PASSWORD_LOGIN=1")
	}
	if v.metrics {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		v.metricsAddr = addr
		env = append(env, "METRICS_ADDR="+addr)
	}
	t, p, err := r.startExtraSpark(ctx, v.key, env)
	if err != nil {
		return fmt.Errorf("spark (%s): %w", v.label, err)
	}
	v.t, v.p, v.base = t, p, "http://"+p.addr
	if v.policy == nil {
		return nil
	}
	if v.session, err = signIn(ctx, v.base, benchAdminEmail, password); err != nil {
		return fmt.Errorf("spark (%s): %w", v.label, err)
	}
	id, key, err := mintKey(ctx, v.session, v.base, "bench "+v.key, *v.policy)
	if err != nil {
		return fmt.Errorf("spark (%s): %w", v.label, err)
	}
	v.keyID = id
	h := v.t.header.Clone()
	h.Set("Authorization", "Bearer "+key)
	v.t.header = h
	return nil
}

// stop ends the variant's process.
func (v *variant) stop() {
	if v.p != nil {
		v.p.stop()
	}
}

// signIn signs in to spark's dashboard API with a password (POST
// /auth/login) and returns a client holding the session cookie.
func signIn(ctx context.Context, base, email, password string) (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Jar: jar, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	st, out, err := jsonCall(ctx, c, http.MethodPost, base+"/auth/login", body)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if st != http.StatusNoContent {
		return nil, fmt.Errorf("sign in: status %d: %s", st, clipBytes(out, 200))
	}
	return c, nil
}

// mintKey creates a client key through POST /api/keys and returns its id
// and the key.
func mintKey(ctx context.Context, session *http.Client, base, name string, p keyPolicy) (id, key string, err error) {
	body, _ := json.Marshal(struct {
		Name string `json:"name"`
		keyPolicy
	}{name, p})
	st, out, err := jsonCall(ctx, session, http.MethodPost, base+"/api/keys", body)
	if err != nil {
		return "", "", fmt.Errorf("POST /api/keys: %w", err)
	}
	var k struct{ ID, Key string }
	if st != http.StatusCreated || json.Unmarshal(out, &k) != nil || k.Key == "" {
		return "", "", fmt.Errorf("POST /api/keys: status %d: %s", st, clipBytes(out, 300))
	}
	return k.ID, k.Key, nil
}

// tokensUsed reads the minted key's tokens_used through GET /api/keys.
func (v *variant) tokensUsed(ctx context.Context) (int64, error) {
	st, out, err := jsonCall(ctx, v.session, http.MethodGet, v.base+"/api/keys", nil)
	if err != nil {
		return 0, fmt.Errorf("GET /api/keys: %w", err)
	}
	var list struct {
		Data []struct {
			ID         string `json:"id"`
			TokensUsed int64  `json:"tokens_used"`
		} `json:"data"`
	}
	if st != http.StatusOK || json.Unmarshal(out, &list) != nil {
		return 0, fmt.Errorf("GET /api/keys: status %d: %s", st, clipBytes(out, 200))
	}
	for _, k := range list.Data {
		if k.ID == v.keyID {
			return k.TokensUsed, nil
		}
	}
	return 0, errors.New("GET /api/keys does not list the minted key")
}

// requestsCounted scrapes the variant's /metrics and returns the requests
// it counted (the sum of gen_ai_server_request_duration_seconds_count).
func (v *variant) requestsCounted(ctx context.Context) (float64, error) {
	body, err := fetch(ctx, pprofClient, "http://"+v.metricsAddr+"/metrics", 16<<20)
	if err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	const name = "gen_ai_server_request_duration_seconds_count"
	var sum float64
	found := false
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		x, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += x
		found = true
	}
	if !found {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return sum, nil
}

// scrapeEvery scrapes the variant's /metrics every interval until the
// returned function is called, which returns how many scrapes succeeded.
func (v *variant) scrapeEvery(ctx context.Context, every time.Duration) func() int {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- n
				return
			case <-tick.C:
				if _, err := fetch(ctx, pprofClient, "http://"+v.metricsAddr+"/metrics", 16<<20); err == nil {
					n++
				}
			}
		}
	}()
	return func() int {
		cancel()
		return <-done
	}
}

// jsonCall sends a JSON request (body nil: none) and returns the status
// and at most 1 MiB of the answer.
func jsonCall(ctx context.Context, c *http.Client, method, url string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// VariantResult is one configuration measured in rounds.
type VariantResult struct {
	Key, Label string
	Conc       int
	Rounds     []*LoadResult
}

// Count is the answers of every round.
func (v *VariantResult) Count() int {
	n := 0
	for _, x := range v.rounds() {
		n += x.Count
	}
	return n
}

func (v *VariantResult) rounds() []*LoadResult {
	if v == nil {
		return nil
	}
	return v.Rounds
}

// Errors is the failed requests of every round.
func (v *VariantResult) Errors() int {
	n := 0
	for _, x := range v.rounds() {
		n += x.Errors
	}
	return n
}

// FirstErr is the first failure of any round.
func (v *VariantResult) FirstErr() string {
	for _, x := range v.rounds() {
		if x.FirstErr != "" {
			return x.FirstErr
		}
	}
	return ""
}

// RPS is the answers of every round ÷ their measuring windows together.
func (v *VariantResult) RPS() float64 {
	var el time.Duration
	for _, x := range v.rounds() {
		el += x.Elapsed
	}
	if el <= 0 {
		return 0
	}
	return float64(v.Count()) / el.Seconds()
}

// P50 is the median of the rounds' p50 latencies.
func (v *VariantResult) P50() time.Duration {
	var ps []time.Duration
	for _, x := range v.rounds() {
		if x.Count > 0 {
			ps = append(ps, x.Lat.P50)
		}
	}
	return distOf(ps).P50
}

// P99 is the median of the rounds' p99 latencies.
func (v *VariantResult) P99() time.Duration {
	var ps []time.Duration
	for _, x := range v.rounds() {
		if x.Count > 0 {
			ps = append(ps, x.Lat.P99)
		}
	}
	return distOf(ps).P50
}

// CPUPer1000 is spark's CPU seconds per 1,000 answers over every round.
func (v *VariantResult) CPUPer1000() float64 {
	var cpu time.Duration
	for _, x := range v.rounds() {
		cpu += x.CPU["spark"]
	}
	if n := v.Count(); n > 0 {
		return cpu.Seconds() / float64(n) * 1000
	}
	return 0
}

// ServerCPUPer1000 is the CPU seconds of the process or server key per
// 1,000 answers over every round (ok false when a round lacks it).
func (v *VariantResult) ServerCPUPer1000(key string) (float64, bool) {
	var cpu time.Duration
	for _, x := range v.rounds() {
		d, ok := x.CPU[key]
		if !ok {
			return 0, false
		}
		cpu += d
	}
	if n := v.Count(); n > 0 {
		return cpu.Seconds() / float64(n) * 1000, true
	}
	return 0, false
}

// OtherCores is the cores other processes kept busy during the rounds
// (-1 = unknown).
func (v *VariantResult) OtherCores() float64 {
	var other, el time.Duration
	for _, x := range v.rounds() {
		if x.Other < 0 {
			return -1
		}
		other += x.Other
		el += x.Elapsed
	}
	if el <= 0 {
		return -1
	}
	return other.Seconds() / el.Seconds()
}

// RoundRatios are the per-round throughput ratios of v to base (rounds
// paired by index).
func (v *VariantResult) RoundRatios(base *VariantResult) []float64 {
	var out []float64
	for i, x := range v.rounds() {
		if i < len(base.rounds()) && base.Rounds[i].RPS() > 0 {
			out = append(out, x.RPS()/base.Rounds[i].RPS())
		}
	}
	return out
}

func (v *VariantResult) valid() bool { return v != nil && v.Count() > 0 }

// measureRounds drives every variant with conc closed-loop clients sending
// body, rounds times; each round visits the variants in an order rotated
// by one, so that a drift of the machine's load does not favour one of
// them. during, if set, runs around each variant's point (a /metrics
// scraper). The CPU figures are those of the simulator and the variant's
// spark.
func (r *runner) measureRounds(ctx context.Context, what string, vs []*variant, body []byte, conc, rounds int, warm, dur time.Duration,
	during func(*variant) func()) ([]*VariantResult, error) {
	out := make([]*VariantResult, len(vs))
	for i, v := range vs {
		out[i] = &VariantResult{Key: v.key, Label: v.label, Conc: conc}
	}
	for round := range rounds {
		for j := range vs {
			i := (j + round) % len(vs)
			v := vs[i]
			r.log("%s c=%d round %d/%d: %s", what, conc, round+1, rounds, v.label)
			var end func()
			if during != nil {
				end = during(v)
			}
			res, err := runLoad(ctx, v.t, body, false, conc, warm, dur, append([]*proc{r.sim, v.p}, r.extraProcs...))
			if end != nil {
				end()
			}
			if err != nil {
				return nil, err
			}
			if !v.p.alive() {
				return nil, errors.New(v.p.exitNote())
			}
			out[i].Rounds = append(out[i].Rounds, res)
		}
	}
	return out, nil
}

// fmtRatios shows per-round ratios as "0.97–1.02×".
func fmtRatios(rs []float64) string {
	if len(rs) == 0 {
		return "n/a"
	}
	lo, hi := slices.Min(rs), slices.Max(rs)
	return fmt.Sprintf("%.2f–%.2f×", lo, hi)
}

// profileVariants saves a CPU profile of each variant's spark under the
// phase's load (-pprof), after the measured rounds so that profiling does
// not disturb them, and adds to the report the top of each and the
// difference of each from the first (go tool pprof -diff_base): where
// the extra CPU of a configuration goes.
func (r *runner) profileVariants(ctx context.Context, phase string, vs []*variant, body []byte, conc int) error {
	if err := os.MkdirAll(r.opts.ProfileDir, 0o755); err != nil {
		return err
	}
	secs := max(int(r.p.ProfileDuration/time.Second)/2, 1)
	var base string
	for i, v := range vs {
		if v.p.pprof == "" {
			return nil
		}
		file := filepath.Join(r.opts.ProfileDir, fmt.Sprintf("spark-cpu-%s-%s-c%d.pprof", phase, v.key, conc))
		r.log("profiling spark (%s) under non-stream c=%d for %ds → %s", v.label, conc, secs, relPath(file))
		perr := make(chan error, 1)
		go func() { perr <- v.p.saveProfile(ctx, fmt.Sprintf("profile?seconds=%d", secs), file) }()
		time.Sleep(50 * time.Millisecond) // the profiler starts before the load
		if _, err := runLoad(ctx, v.t, body, false, conc, 0, time.Duration(secs)*time.Second+500*time.Millisecond, []*proc{r.sim, v.p}); err != nil {
			return err
		}
		if err := <-perr; err != nil {
			return fmt.Errorf("%s CPU profile: %w", v.label, err)
		}
		r.rep.Profiles = append(r.rep.Profiles, file)
		label := fmt.Sprintf("spark, %s, non-stream c=%d", v.label, conc)
		if i == 0 {
			base = file
			r.rep.ProfileTops = append(r.rep.ProfileTops, ProfileTop{Label: label, File: file, Top: pprofTop(ctx, file)})
			continue
		}
		r.rep.ProfileTops = append(r.rep.ProfileTops, ProfileTop{Label: label + ", minus " + vs[0].label + " (-diff_base; per-profile totals differ with the samples taken)",
			File: file, Top: pprofDiff(ctx, base, file)})
	}
	return nil
}

// pprofDiff returns the cumulative top of spark's own functions in file
// minus base (go tool pprof -diff_base), or why it failed.
func pprofDiff(ctx context.Context, base, file string) string {
	args := []string{"tool", "pprof", "-top", "-cum", "-nodecount=40", "-show=github.com/sparkgw/", "-diff_base=" + base, file}
	out, err := exec.CommandContext(ctx, goTool(), args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go %s failed: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
