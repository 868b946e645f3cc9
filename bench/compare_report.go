package main

import (
	"fmt"
	"math"
	"time"
)

// Goals of the comparison phases (issue 17, parts 3 and 4; issue 13's
// usage accounting).
const (
	planeGoalApart    = 0.05 // throughput with the plane on within 5% of off
	replicasGoalRatio = 0.90 // PostgreSQL + Redis ≥ 0.9× embedded
	admitGoal         = 300 * time.Microsecond
)

// statusSkipped is the status of a target whose phase could not run
// (its services were not given).
const statusSkipped = "skipped"

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// compareFigures are the figures of the plane and replicas phases (none
// for a phase that did not run).
func (r *Report) compareFigures(add func(string, float64, bool)) {
	if p := r.Plane; p != nil {
		off := p.variant("off")
		for _, key := range []string{"off", "usage", "on"} {
			v := p.variant(key)
			pre := fmt.Sprintf("plane.c%d.%s.", p.Conc, key)
			ok := v.valid()
			add(pre+"rps", v.RPS(), ok)
			add(pre+"p50_ms", ms(v.P50()), ok)
			add(pre+"p99_ms", ms(v.P99()), ok)
			add(pre+"cpu_s_per_1000", v.CPUPer1000(), ok)
			add(pre+"errors", float64(v.Errors()), v != nil)
			if key != "off" {
				add(pre+"ratio_vs_off", ratio(v.RPS(), off.RPS()), ok && off.valid())
			}
		}
		add("plane.on.metrics_scrapes", float64(p.Scrapes), true)
		add("plane.on.requests_counted", p.Counted, true)
		add("plane.on.tokens_used", float64(p.TokensUsed), true)
	}
	if rp := r.Replicas; rp != nil && rp.Skipped == "" {
		emb := pickVariant(rp.Throughput, "embedded")
		for _, key := range []string{"embedded", "pgredis"} {
			v := pickVariant(rp.Throughput, key)
			pre := fmt.Sprintf("replicas.c%d.%s.", r.Params.Compare.Conc, key)
			ok := v.valid()
			add(pre+"rps", v.RPS(), ok)
			add(pre+"p50_ms", ms(v.P50()), ok)
			add(pre+"cpu_s_per_1000", v.CPUPer1000(), ok)
			add(pre+"errors", float64(v.Errors()), v != nil)
			if key != "embedded" {
				add(pre+"ratio_vs_embedded", ratio(v.RPS(), emb.RPS()), ok && emb.valid())
				for _, srv := range []string{"postgres", "redis"} {
					c, cok := v.ServerCPUPer1000(srv)
					add(pre+srv+"_cpu_s_per_1000", c, ok && cok)
				}
			}
		}
		lemb := pickVariant(rp.Latency, "embedded")
		for _, key := range []string{"embedded", "redis", "pgredis"} {
			v := pickVariant(rp.Latency, key)
			pre := "replicas.c1." + key + "."
			ok := v.valid()
			add(pre+"p50_ms", ms(v.P50()), ok)
			add(pre+"p99_ms", ms(v.P99()), ok)
			add(pre+"errors", float64(v.Errors()), v != nil)
			if key != "embedded" {
				add(pre+"added_p50_ms", ms(v.P50()-lemb.P50()), ok && lemb.valid())
			}
		}
		add("replicas.admit.memory.p50_us", us(rp.AdmitMemory.P50), rp.AdmitMemory.N > 0)
		add("replicas.admit.memory.p99_us", us(rp.AdmitMemory.P99), rp.AdmitMemory.N > 0)
		add("replicas.admit.redis.p50_us", us(rp.AdmitRedis.P50), rp.AdmitRedis.N > 0)
		add("replicas.admit.redis.p99_us", us(rp.AdmitRedis.P99), rp.AdmitRedis.N > 0)
		add("replicas.admit.redis.added_p50_ms", ms(rp.AdmitRedis.P50-rp.AdmitMemory.P50), rp.AdmitRedis.N > 0 && rp.AdmitMemory.N > 0)
		add("replicas.release.memory.p50_us", us(rp.ReleaseMemory.P50), rp.ReleaseMemory.N > 0)
		add("replicas.release.redis.p50_us", us(rp.ReleaseRedis.P50), rp.ReleaseRedis.N > 0)
		add("replicas.admit.redis_exact.p50_us", us(rp.AdmitRedisExact.P50), rp.AdmitRedisExact.N > 0)
		add("replicas.admit.redis_exact.p99_us", us(rp.AdmitRedisExact.P99), rp.AdmitRedisExact.N > 0)
		add("replicas.admit.redis_exact.added_p50_ms", ms(rp.AdmitRedisExact.P50-rp.AdmitMemory.P50), rp.AdmitRedisExact.N > 0 && rp.AdmitMemory.N > 0)
		add("replicas.release.redis_exact.p50_us", us(rp.ReleaseRedisExact.P50), rp.ReleaseRedisExact.N > 0)
	}
}

// compareTargets evaluates the targets of the plane and replicas phases.
func (r *Report) compareTargets() []Target {
	var out []Target
	apart := func(name, key, what string) Target {
		t := Target{Name: name, Goal: fmt.Sprintf("≤ %.0f%% apart", 100*planeGoalApart)}
		off, v := r.Plane.variant("off"), r.Plane.variant(key)
		if !off.valid() || !v.valid() {
			t.Status = statusNotMeasured
			return t
		}
		q := v.RPS() / off.RPS()
		d := math.Abs(1 - q)
		t.Measured = fmt.Sprintf("%.2f× (%.1f%% apart)", q, 100*d)
		t.Note = fmt.Sprintf("%s %.0f req/s vs off %.0f req/s over %d alternating rounds (per round %s); spark CPU %.3f vs %.3f ms per request",
			what, v.RPS(), off.RPS(), len(v.Rounds), fmtRatios(v.RoundRatios(off)), v.CPUPer1000(), off.CPUPer1000())
		if n := v.Errors() + off.Errors(); n > 0 {
			t.Note += fmt.Sprintf("; %d requests failed", n)
		}
		if d <= planeGoalApart {
			t.Status = statusMet
		} else {
			t.Status = statusMissed
			t.Note = fmt.Sprintf("%.1f points over; ", 100*(d-planeGoalApart)) + t.Note
		}
		return t
	}
	out = append(out,
		apart("management plane on vs off: throughput, non-stream, c=16", "on", "usage records, a minted key with policies and metrics"),
		apart("usage records on vs off: throughput, non-stream, c=16", "usage", "usage records"))

	rp := r.Replicas
	skipped := func(t Target) Target {
		switch {
		case rp == nil:
			t.Status = statusNotMeasured
		case rp.Skipped != "":
			t.Status, t.Note = statusSkipped, rp.Skipped
		}
		return t
	}
	{
		t := skipped(Target{Name: "PostgreSQL + Redis vs embedded: throughput, non-stream, c=16", Goal: fmt.Sprintf("≥ %.2f×", replicasGoalRatio)})
		if t.Status == "" {
			emb, pg := pickVariant(rp.Throughput, "embedded"), pickVariant(rp.Throughput, "pgredis")
			if !emb.valid() || !pg.valid() {
				t.Status = statusNotMeasured
			} else {
				q := pg.RPS() / emb.RPS()
				t.Measured = fmt.Sprintf("%.2f×", q)
				t.Note = fmt.Sprintf("PostgreSQL + Redis %.0f req/s vs embedded %.0f req/s over %d alternating rounds (per round %s); spark CPU %.3f vs %.3f ms per request",
					pg.RPS(), emb.RPS(), len(pg.Rounds), fmtRatios(pg.RoundRatios(emb)), pg.CPUPer1000(), emb.CPUPer1000())
				if srv := serverCPUNote(pg); srv != "" {
					t.Note += "; " + srv
				}
				if n := pg.Errors() + emb.Errors(); n > 0 {
					t.Note += fmt.Sprintf("; %d requests failed", n)
				}
				if q >= replicasGoalRatio {
					t.Status = statusMet
				} else {
					t.Status = statusMissed
					t.Note = fmt.Sprintf("short by %.2f× (%.0f%% of the goal); ", replicasGoalRatio-q, 100*q/replicasGoalRatio) + t.Note
				}
			}
		}
		out = append(out, t)
	}
	{
		t := skipped(Target{Name: "Redis admission step: added p50", Goal: fmt.Sprintf("≤ %.1f ms", ms(admitGoal))})
		if t.Status == "" {
			if rp.AdmitRedisExact.N == 0 || rp.AdmitMemory.N == 0 {
				t.Status = statusNotMeasured
			} else {
				// Judged on the exact path (one script run per admission),
				// the slower of the two.
				added := rp.AdmitRedisExact.P50 - rp.AdmitMemory.P50
				t.Measured = fmtAdded(added)
				t.Note = fmt.Sprintf("one admission (key window and concurrency slot) in process, on the exact path (one script run): Redis %.1f µs vs in-process %.1f µs at p50 (p99 %.1f vs %.1f µs), %s each; the ticket's release %.1f µs. For this key without an IP limit, far from its limits, spark admits on credit borrowed in blocks: %.1f µs at p50 (p99 %.1f µs), release %.1f µs",
					us(rp.AdmitRedisExact.P50), us(rp.AdmitMemory.P50), us(rp.AdmitRedisExact.P99), us(rp.AdmitMemory.P99), thousands(rp.AdmitRedisExact.N), us(rp.ReleaseRedisExact.P50),
					us(rp.AdmitRedis.P50), us(rp.AdmitRedis.P99), us(rp.ReleaseRedis.P50))
				if e, x := pickVariant(rp.Latency, "embedded"), pickVariant(rp.Latency, "redis"); e.valid() && x.valid() {
					t.Note += fmt.Sprintf("; through spark at c=1, REDIS_URL adds %s to the request's p50 (every Redis step of a request)", fmtAdded(x.P50()-e.P50()))
				}
				if added <= admitGoal {
					t.Status = statusMet
				} else {
					t.Status = statusMissed
					t.Note = fmt.Sprintf("over by %s; ", fmtMS(added-admitGoal)) + t.Note
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// compareMarkdown renders the plane and replicas phases.
func (r *Report) compareMarkdown(w func(string, ...any), link func(file string) string) {
	chart := func(id string) {
		for _, ch := range r.Charts {
			if ch.ID == id {
				w("\n![%s](%s)\n", ch.Title, link(ch.File))
			}
		}
	}
	cp := r.Params.Compare
	row := func(v, base *VariantResult) {
		rat, per := "—", "—"
		if base != nil && v != base && base.RPS() > 0 {
			rat, per = fmt.Sprintf("%.3f×", v.RPS()/base.RPS()), fmtRatios(v.RoundRatios(base))
		}
		w("| %s | %.0f | %s | %s | %s | %s | %.3f | %s | %s |\n", v.Label, v.RPS(), rat, per, fmtMS(v.P50()), fmtMS(v.P99()),
			v.CPUPer1000(), errCell(v.Errors(), v.FirstErr()), fmtCores(v.OtherCores()))
	}
	header := func(base string) {
		w("| spark | req/s | vs %s | per round | p50 | p99 | CPU ms / request | errors | other load |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", base)
	}
	if p := r.Plane; p != nil {
		w("\n### Management plane: usage records, key policies, metrics\n\n")
		w("Three spark processes side by side, each on an empty DATA_DIR, non-stream chat at c=%d, measured in %d rounds of %s (after %s warm-up) that visit them in a rotated order; req/s is all rounds' answers ÷ their windows, p50 and p99 the median of the rounds'. ", p.Conc, cp.Rounds, cp.Dur, cp.Warm)
		w("*Off*: USAGE_RECORDS=0, the API_SECRET key, no metrics. *On*: usage records, a key minted by the built-in admin through `POST /api/keys` (%s), so every request is verified against the stored key, admitted by its rate and concurrency limits (in process) and metered against its quota, and METRICS_ADDR with /metrics scraped every %s while it is measured.\n\n", p.Policy, cp.ScrapeEvery)
		header("off")
		off := p.variant("off")
		for _, v := range p.Variants {
			row(v, off)
		}
		w("\nThe plane was on: /metrics was scraped %d times during its windows and counted %s requests at the end; the key's meter counted %s tokens.\n", p.Scrapes, thousands(int(p.Counted)), thousands(int(p.TokensUsed)))
		chart(chartPlane)
	}
	rp := r.Replicas
	if rp == nil {
		return
	}
	w("\n### Replicas: PostgreSQL + Redis against the embedded store\n\n")
	if rp.Skipped != "" {
		w("Skipped: %s.\n", rp.Skipped)
		return
	}
	w("PostgreSQL %s (a database created for the run) and redis-server %s on 127.0.0.1, as `scripts/services/postgres.sh` and `redis.sh` start them (PostgreSQL without fsync). Each spark process uses a key minted through `POST /api/keys` (%s) and keeps usage records, so a request takes its key, its admission, its usage record and its key's token count from the store and the shared state of its mode. The CPU column is spark's; the servers' own CPU is given below the table (Redis's from its INFO cpu, PostgreSQL's from this machine's postgres processes) and is not in *other load*.\n\n",
		rp.Postgres, rp.Redis, rp.Policy)
	w("Throughput, non-stream, c=%d, %d alternating rounds of %s after %s warm-up:\n\n", cp.Conc, cp.Rounds, cp.Dur, cp.Warm)
	header("embedded")
	emb := pickVariant(rp.Throughput, "embedded")
	for _, v := range rp.Throughput {
		row(v, emb)
	}
	if srv := serverCPUNote(pickVariant(rp.Throughput, "pgredis")); srv != "" {
		w("\nWith PostgreSQL + Redis, %s: on this machine they share the 2 cores with spark, the simulator and the load generator.\n", srv)
	}
	w("\nLatency, non-stream, c=1, %d alternating rounds of %s after %s warm-up (the difference is what the mode adds to one request):\n\n", cp.LatRounds, cp.LatDur, cp.LatWarm)
	w("| spark | p50 | added p50 | p99 | requests | errors |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	lemb := pickVariant(rp.Latency, "embedded")
	for _, v := range rp.Latency {
		added := "—"
		if v != lemb && lemb != nil {
			added = fmtAdded(v.P50() - lemb.P50())
		}
		w("| %s | %s | %s | %s | %s | %s |\n", v.Label, fmtMS(v.P50()), added, fmtMS(v.P99()), thousands(v.Count()), errCell(v.Errors(), v.FirstErr()))
	}
	w("\nThe admission step alone, in the bench process, as the server calls it for a key with a rate and a concurrency limit (one `Admit`, then the ticket's `Release`), %s times each, interleaved: the in-process admitter; the Redis one as spark takes this key's admissions (far from its limits and without a per-IP limit, on credit the replica borrows in blocks, one script run per block); and the Redis one on its exact path (one Lua script run per admission, as for a key near its limits, with small limits or with a per-IP limit):\n\n", thousands(rp.AdmitRedis.N))
	w("| admitter | Admit p50 | Admit p90 | Admit p99 | Release p50 |\n| --- | ---: | ---: | ---: | ---: |\n")
	w("| in process (`limit.MemoryAdmitter`) | %.1f µs | %.1f µs | %.1f µs | %.1f µs |\n", us(rp.AdmitMemory.P50), us(rp.AdmitMemory.P90), us(rp.AdmitMemory.P99), us(rp.ReleaseMemory.P50))
	w("| Redis (`cluster.Redis`, REDIS_URL), this key | %.1f µs | %.1f µs | %.1f µs | %.1f µs |\n", us(rp.AdmitRedis.P50), us(rp.AdmitRedis.P90), us(rp.AdmitRedis.P99), us(rp.ReleaseRedis.P50))
	w("| Redis, exact path | %.1f µs | %.1f µs | %.1f µs | %.1f µs |\n", us(rp.AdmitRedisExact.P50), us(rp.AdmitRedisExact.P90), us(rp.AdmitRedisExact.P99), us(rp.ReleaseRedisExact.P50))
	chart(chartReplicas)
}

// serverCPUNote says what the PostgreSQL and Redis servers spent per
// request of v ("" when unknown).
func serverCPUNote(v *VariantResult) string {
	pg, okPG := v.ServerCPUPer1000("postgres")
	rd, okRD := v.ServerCPUPer1000("redis")
	if !v.valid() || !okPG || !okRD {
		return ""
	}
	return fmt.Sprintf("the PostgreSQL server spent %.3f ms and Redis %.3f ms of CPU per request besides spark's %.3f ms", pg, rd, v.CPUPer1000())
}
