package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/limit"
)

// The variables that give the replicas phase its services, as
// scripts/services/postgres.sh and redis.sh export them, and the one that
// makes their absence an error (scripts/test.sh sets it).
const (
	databaseURLEnv     = "SPARK_TEST_DATABASE_URL"
	redisURLEnv        = "SPARK_TEST_REDIS_URL"
	requireServicesEnv = "SPARK_REQUIRE_SERVICES"
)

// Replicas is what the replica mode costs: PostgreSQL (DATABASE_URL) and
// Redis (REDIS_URL) against the embedded SQLite store and in-process
// limits.
type Replicas struct {
	// Skipped says why the phase did not run ("" = it ran).
	Skipped string

	Postgres, Redis string // server versions
	Policy          keyPolicy
	// Throughput: embedded and pgredis at c=Conc, non-stream.
	Throughput []*VariantResult
	// Latency: embedded, redis (SQLite + REDIS_URL) and pgredis at c=1.
	Latency []*VariantResult
	// The admission step measured directly in the bench process, as the
	// server calls it for a key with a rate and a concurrency limit:
	// limit.MemoryAdmitter against cluster's Redis admitter on the same
	// redis-server, interleaved; ReleaseRedis is the Redis ticket's
	// Release. AdmitRedis is the key's admission as spark takes it (on
	// borrowed credit while far from its limits); AdmitRedisExact the
	// exact path (one script run, the same key limits and a per-IP one).
	AdmitMemory, AdmitRedis, ReleaseMemory, ReleaseRedis Dist
	AdmitRedisExact, ReleaseRedisExact                   Dist
}

func pickVariant(vs []*VariantResult, key string) *VariantResult {
	for _, v := range vs {
		if v.Key == key {
			return v
		}
	}
	return nil
}

// services returns the PostgreSQL and Redis URLs of the phase, or why it
// cannot run.
func (r *runner) services() (db, rd, why string) {
	db, rd = r.opts.DatabaseURL, r.opts.RedisURL
	var missing []string
	if db == "" {
		missing = append(missing, "PostgreSQL ("+databaseURLEnv+" or -database-url)")
	}
	if rd == "" {
		missing = append(missing, "Redis ("+redisURLEnv+" or -redis-url)")
	}
	if len(missing) > 0 {
		why = "no " + strings.Join(missing, " and no ") + " was given; `. scripts/services/postgres.sh; . scripts/services/redis.sh` start both and export the variables"
	}
	return db, rd, why
}

// replicas measures PostgreSQL + Redis mode against the embedded store.
func (r *runner) replicas(ctx context.Context) error {
	dbURL, redisURL, why := r.services()
	if why != "" {
		if r.opts.RequireServices {
			return fmt.Errorf("replicas: %s=1 but %s", requireServicesEnv, why)
		}
		r.log("replicas: skipped: %s", why)
		r.rep.Replicas = &Replicas{Skipped: why}
		return nil
	}
	cp := r.p.Compare
	policy := cp.benchPolicy()
	rep := &Replicas{Policy: policy}

	pgURL, drop, version, err := createDatabase(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	defer drop()
	rep.Postgres = version
	if rep.Redis, err = redisVersion(ctx, redisURL); err != nil {
		return fmt.Errorf("replicas: %w", err)
	}

	servers, closeServers, err := serverProcs(redisURL)
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	defer closeServers()
	r.extraProcs = servers
	defer func() { r.extraProcs = nil }()

	embedded := &variant{key: "embedded", label: "embedded (SQLite, in-process limits)", policy: &policy}
	withRedis := &variant{key: "redis", label: "SQLite + Redis (REDIS_URL)", env: []string{"REDIS_URL=" + redisURL}, policy: &policy}
	pgRedis := &variant{key: "pgredis", label: "PostgreSQL + Redis (DATABASE_URL, REDIS_URL)", env: []string{"DATABASE_URL=" + pgURL, "REDIS_URL=" + redisURL}, policy: &policy}
	vs := []*variant{embedded, withRedis, pgRedis}
	defer func() {
		for _, v := range vs {
			v.stop()
		}
	}()
	for _, v := range vs {
		r.log("replicas: starting spark, %s", v.label)
		if err := v.start(ctx, r); err != nil {
			return err
		}
	}
	body := openAIBody(promptNonStream, false, "")
	for _, v := range vs {
		warmOnce(ctx, v.t, body, false)
	}
	if rep.Throughput, err = r.measureRounds(ctx, "replicas", []*variant{embedded, pgRedis}, body, cp.Conc, cp.Rounds, cp.Warm, cp.Dur, nil); err != nil {
		return err
	}
	if rep.Latency, err = r.measureRounds(ctx, "replicas", vs, body, 1, cp.LatRounds, cp.LatWarm, cp.LatDur, nil); err != nil {
		return err
	}
	r.log("replicas: the admission step, in process against redis-server, %d admissions each", cp.Admits)
	if err := measureAdmission(ctx, redisURL, policy, cp.Admits, rep); err != nil {
		return fmt.Errorf("replicas: admission step: %w", err)
	}
	// Redis answered every operation of the spark processes (otherwise
	// they admitted with local limits, REDIS_FAILURE_MODE=open).
	for _, v := range vs {
		if b, err := os.ReadFile(v.p.log); err == nil && strings.Contains(string(b), "Redis failed") {
			return fmt.Errorf("replicas, %s: Redis failed during the phase (see its log)", v.label)
		}
	}
	// The minted keys were metered: the requests went through the key
	// policies in each mode.
	for _, v := range vs {
		if used, err := v.tokensUsed(ctx); err != nil {
			return fmt.Errorf("replicas, %s: %w", v.label, err)
		} else if used <= 0 {
			return fmt.Errorf("replicas, %s: the key's meter counted no tokens", v.label)
		}
	}
	r.rep.Replicas = rep
	if r.opts.Pprof {
		return r.profileVariants(ctx, "replicas", []*variant{embedded, pgRedis}, body, cp.Conc)
	}
	return nil
}

// createDatabase creates an empty database on the PostgreSQL server admin
// names (a role allowed to create databases) and returns its URL, a
// function that drops it, and the server's version.
func createDatabase(ctx context.Context, admin string) (dbURL string, drop func(), version string, err error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, "", errors.New("the PostgreSQL URL must be a postgres:// URL")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "spark_bench_" + hex.EncodeToString(b)
	exec := func(ctx context.Context, sql string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return "", err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if strings.HasPrefix(sql, "SHOW") {
			var v string
			err = conn.QueryRow(ctx, sql).Scan(&v)
			return v, err
		}
		_, err = conn.Exec(ctx, sql)
		return "", err
	}
	if version, err = exec(ctx, "SHOW server_version"); err != nil {
		return "", nil, "", fmt.Errorf("PostgreSQL: %w", err)
	}
	if _, err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, "", fmt.Errorf("PostgreSQL: create the benchmark's database: %w", err)
	}
	drop = func() {
		_, _ = exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	u.Path = "/" + name
	return u.String(), drop, version, nil
}

// redisVersion asks the Redis server its version.
func redisVersion(ctx context.Context, rawURL string) (string, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return "", errors.New("the Redis URL must be a redis://, rediss:// or unix:// URL")
	}
	o.DisableIdentity = true
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", fmt.Errorf("Redis: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "unknown", nil
}

// measureAdmission times the admission step as the server takes it for a
// key with the policy's rate and concurrency limits, in process:
// limit.MemoryAdmitter (embedded mode) and cluster's Redis admitter
// against the given Redis (the same code spark runs with REDIS_URL), one
// admission at a time, alternating between the two.
func measureAdmission(ctx context.Context, redisURL string, p keyPolicy, n int, rep *Replicas) error {
	prefix := "{spark-bench-" + strings.ToLower(rand.Text()[:12]) + "}:"
	// With Redis failing the admitter would admit with local limits (the
	// default failure mode) and the figures would be the wrong ones: any
	// failure ends the measurement.
	var failed atomic.Int64
	rc, err := cluster.Open(ctx, redisURL, cluster.Options{Prefix: prefix, OnFailure: func(string) { failed.Add(1) }})
	if err != nil {
		return err
	}
	defer rc.Close()
	// Three ways, interleaved: in process; Redis as spark takes this
	// key's admissions (far from its limits and without an IP limit, on
	// credit borrowed in blocks, see cluster's credit.go); and Redis on
	// its exact path, one script run per admission, as for a key near its
	// limits, with small limits or with a per-IP limit (here the same key
	// limits and an IP limit that never refuses).
	admitters := []limit.Admitter{limit.NewMemoryAdmitter(nil, 0), rc.Admitter(), rc.Admitter()}
	adms := []limit.Admission{
		{KeyID: "key_bench", KeyPerMinute: p.RPM, KeyMaxConcurrent: p.MaxConcurrency},
		{KeyID: "key_bench", KeyPerMinute: p.RPM, KeyMaxConcurrent: p.MaxConcurrency},
		{KeyID: "key_bench_exact", KeyPerMinute: p.RPM, KeyMaxConcurrent: p.MaxConcurrency, IP: "192.0.2.1", IPPerMinute: 1_000_000},
	}
	admit := make([][]time.Duration, len(admitters))
	release := make([][]time.Duration, len(admitters))
	for i := range n + n/10 { // the first tenth warms up
		for j := range admitters {
			k := (i + j) % len(admitters) // rotate which goes first
			t0 := time.Now()
			tk, err := admitters[k].Admit(ctx, adms[k])
			t1 := time.Now()
			if err != nil {
				return fmt.Errorf("admit: %w", err)
			}
			tk.Release()
			t2 := time.Now()
			if i >= n/10 {
				admit[k] = append(admit[k], t1.Sub(t0))
				release[k] = append(release[k], t2.Sub(t1))
			}
		}
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d Redis operations failed: the admissions fell back to local limits", n)
	}
	rep.AdmitRedisExact, rep.ReleaseRedisExact = distOf(admit[2]), distOf(release[2])
	rep.AdmitMemory, rep.AdmitRedis = distOf(admit[0]), distOf(admit[1])
	rep.ReleaseMemory, rep.ReleaseRedis = distOf(release[0]), distOf(release[1])
	return nil
}

// serverProcs are the PostgreSQL and Redis servers as CPU sources for the
// load's CPU accounts (keys "postgres" and "redis"): Redis's own account
// (INFO cpu, all its threads), and every process of this machine named
// postgres (the server's processes; none when it runs elsewhere, and then
// the figure is missing).
func serverProcs(redisURL string) ([]*proc, func(), error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, errors.New("the Redis URL must be a redis://, rediss:// or unix:// URL")
	}
	o.DisableIdentity = true
	c := redis.NewClient(o)
	rd := &proc{key: "redis", name: "redis-server", cpuOf: func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return 0, err
		}
		var secs float64
		n := 0
		for line := range strings.SplitSeq(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, err
				}
				secs += x
				n++
			}
		}
		if n != 2 {
			return 0, errors.New("no used_cpu_sys and used_cpu_user in INFO cpu")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}}
	pg := &proc{key: "postgres", name: "PostgreSQL", cpuOf: postgresCPU}
	return []*proc{pg, rd}, func() { c.Close() }, nil
}

// postgresCPU is the CPU time of this machine's processes named postgres
// (the server and its backends, as ps shows them). Each is one thread, so
// its scheduler runtime (/proc/PID/sched, nanoseconds) is its CPU time;
// /proc/PID/stat counts in 10 ms ticks, too coarse once the server spends
// 0.01 ms per request (a quick run then measured none), and is the
// fallback where the sched file is missing.
func postgresCPU() (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	found := false
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ...: comm is the executable's name.
		i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if i < 0 || j < i || string(stat[i+1:j]) != "postgres" {
			continue
		}
		d, err := schedRuntime("/proc/" + e.Name() + "/sched")
		if err != nil {
			if d, err = cpuOfFile("/proc/" + e.Name() + "/stat"); err != nil {
				continue
			}
		}
		sum += d
		found = true
	}
	if !found {
		return 0, errors.New("no postgres process on this machine")
	}
	return sum, nil
}

// schedRuntime returns a thread's time on the CPU from its
// /proc/PID/sched file (se.sum_exec_runtime, in milliseconds with six
// decimals).
func schedRuntime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "se.sum_exec_runtime" {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return time.Duration(ms * float64(time.Millisecond)), nil
	}
	return 0, fmt.Errorf("%s: no se.sum_exec_runtime", path)
}
