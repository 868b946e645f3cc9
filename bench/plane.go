package main

import (
	"context"
	"fmt"
	"time"
)

// compareParams size a phase that compares spark configurations.
type compareParams struct {
	Conc        int           // clients of the throughput comparison
	Rounds      int           // rounds of the throughput comparison
	Warm, Dur   time.Duration // per variant and round
	LatRounds   int           // rounds of the c=1 latency comparison (replicas)
	LatWarm     time.Duration
	LatDur      time.Duration
	ScrapeEvery time.Duration // /metrics scrapes while the metrics variant is measured
	Admits      int           // direct admissions per admitter (replicas)
}

func compareParamsFor(quick bool) compareParams {
	if quick {
		return compareParams{Conc: 16, Rounds: 2, Warm: 100 * time.Millisecond, Dur: 400 * time.Millisecond,
			LatRounds: 2, LatWarm: 50 * time.Millisecond, LatDur: 250 * time.Millisecond, ScrapeEvery: 200 * time.Millisecond, Admits: 300}
	}
	return compareParams{Conc: 16, Rounds: 3, Warm: 400 * time.Millisecond, Dur: 2 * time.Second,
		LatRounds: 2, LatWarm: 200 * time.Millisecond, LatDur: 1500 * time.Millisecond, ScrapeEvery: time.Second, Admits: 3000}
}

// benchRPM is the requests-per-minute limit of the keys the comparison
// phases mint: above anything the load generator can send to one key
// within a minute of the phase (12,000 requests a second through all its
// rounds), so it never refuses, yet a real window the admitter keeps.
func (p compareParams) benchRPM() int {
	secs := float64(p.Rounds) * (p.Warm + p.Dur).Seconds()
	rpm := int(secs*12000/1000+1) * 1000
	return min(max(rpm, 10000), 1_000_000)
}

// benchPolicy is the key policy of the comparison phases: the benchmark's
// model only, an rpm that never refuses, a concurrency cap above the
// clients and a token quota far from reached.
func (p compareParams) benchPolicy() keyPolicy {
	return keyPolicy{Models: []string{benchModel}, RPM: p.benchRPM(), MaxConcurrency: 4 * p.Conc, TokenQuota: 1 << 40}
}

// Plane is what the management plane costs: non-stream throughput at
// c=Conc with usage records, key policies and metrics off, with usage
// records alone, and with all of them on.
type Plane struct {
	Conc     int
	Variants []*VariantResult // off, usage, on
	Policy   keyPolicy        // of the "on" variant's key
	// Scrapes are the /metrics scrapes of the "on" variant while it was
	// measured; Counted is the requests its /metrics counted at the end;
	// TokensUsed the tokens its key's meter counted. They show the plane
	// was really on.
	Scrapes    int
	Counted    float64
	TokensUsed int64
}

func (p *Plane) variant(key string) *VariantResult {
	if p == nil {
		return nil
	}
	for _, v := range p.Variants {
		if v.Key == key {
			return v
		}
	}
	return nil
}

// plane measures the management plane's cost: three spark processes side
// by side, driven in alternating rounds.
func (r *runner) plane(ctx context.Context) error {
	cp := r.p.Compare
	policy := cp.benchPolicy()
	vs := []*variant{
		{key: "off", label: "plane off (USAGE_RECORDS=0, API_SECRET, no metrics)", env: []string{"USAGE_RECORDS=0"}},
		{key: "usage", label: "usage records on (API_SECRET, no metrics)", env: []string{"USAGE_RECORDS=1"}},
		{key: "on", label: "plane on (usage records, minted key with policies, metrics)", env: []string{"USAGE_RECORDS=1"}, policy: &policy, metrics: true},
	}
	defer func() {
		for _, v := range vs {
			v.stop()
		}
	}()
	for _, v := range vs {
		r.log("plane: starting spark, %s", v.label)
		if err := v.start(ctx, r); err != nil {
			return err
		}
	}
	body := openAIBody(promptNonStream, false, "")
	for _, v := range vs {
		warmOnce(ctx, v.t, body, false)
	}
	on := vs[2]
	scrapes := 0
	res, err := r.measureRounds(ctx, "plane", vs, body, cp.Conc, cp.Rounds, cp.Warm, cp.Dur, func(v *variant) func() {
		if !v.metrics {
			return nil
		}
		end := v.scrapeEvery(ctx, cp.ScrapeEvery)
		return func() { scrapes += end() }
	})
	if err != nil {
		return err
	}
	pl := &Plane{Conc: cp.Conc, Variants: res, Policy: policy, Scrapes: scrapes}
	// The plane was on: its /metrics counted the requests and its key's
	// meter the tokens (the usage recorder flushes in the background).
	if pl.Counted, err = on.requestsCounted(ctx); err != nil {
		return fmt.Errorf("plane on: %w", err)
	}
	if n := res[2].Count(); pl.Counted < float64(n) {
		return fmt.Errorf("plane on: /metrics counted %.0f requests, fewer than the %d answered", pl.Counted, n)
	}
	if pl.TokensUsed, err = on.tokensUsed(ctx); err != nil {
		return fmt.Errorf("plane on: %w", err)
	}
	if pl.TokensUsed <= 0 {
		return fmt.Errorf("plane on: the key's meter counted no tokens")
	}
	r.rep.Plane = pl
	for _, v := range res {
		r.log("  %s: %.0f req/s, %d errors", v.Label, v.RPS(), v.Errors())
	}
	if r.opts.Pprof {
		return r.profileVariants(ctx, "plane", []*variant{vs[0], vs[1], vs[2]}, body, cp.Conc)
	}
	return nil
}
