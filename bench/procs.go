package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkgw/spark/internal/simulator"
)

// roleEnv makes the bench binary (or its test binary) serve one of the
// helper roles instead of benchmarking: "sim" (the upstream simulator) or
// "proxy" (the bare reverse proxy, upstream in upstreamEnv).
const (
	roleEnv     = "SPARK_BENCH_ROLE"
	upstreamEnv = "SPARK_BENCH_UPSTREAM"
	// certEnv, given to the "sim" role, makes it serve HTTPS with a
	// throwaway certificate written (PEM) to this file.
	certEnv = "SPARK_BENCH_CERT"
)

// proc is a process the benchmark started.
type proc struct {
	key   string // sim, proxy, spark
	name  string
	cmd   *exec.Cmd
	addr  string // host:port of its HTTP listener
	pprof string // host:port of its pprof listener ("" = none)
	log   string // file receiving its stdout/stderr
	stdin io.Closer

	exited  chan struct{}
	waitErr error

	// cpuOf, when set, reads the CPU time of a server the benchmark did
	// not start (PostgreSQL, Redis) instead of the process's own.
	cpuOf func() (time.Duration, error)
}

// start starts cmd and watches its exit.
func (p *proc) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process: stdin closed and SIGTERM, SIGKILL after 10 s.
func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.exited == nil {
		return
	}
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// exitNote describes how the process ended, with the tail of its log.
func (p *proc) exitNote() string {
	tail := ""
	if b, err := os.ReadFile(p.log); err == nil {
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		tail = "\n" + string(b)
	}
	return fmt.Sprintf("%s exited (%v)%s", p.name, p.waitErr, tail)
}

// rss returns the resident set size in bytes.
func (p *proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// cpu returns user+system CPU time.
func (p *proc) cpu() (time.Duration, error) {
	if p.cpuOf != nil {
		return p.cpuOf()
	}
	return cpuOfFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
}

// cpuOfFile returns user+system CPU time from a /proc/PID/stat file.
func cpuOfFile(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(3) ... utime(14) stime(15), 1-based.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// machineBusy returns the busy time of all CPUs together (user, nice,
// system, irq, softirq) from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system (idle iowait) irq softirq
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines reads the goroutine count from the pprof endpoint (0 and an
// error when the process has none).
func (p *proc) goroutines(ctx context.Context) (int, error) {
	if p.pprof == "" {
		return 0, errors.New("no pprof endpoint")
	}
	body, err := fetch(ctx, pprofClient, "http://"+p.pprof+"/debug/pprof/goroutine?debug=1", 1<<16)
	if err != nil {
		return 0, err
	}
	m := goroutineTotal.FindSubmatch(body)
	if m == nil {
		return 0, errors.New("no total in the goroutine profile")
	}
	return strconv.Atoi(string(m[1]))
}

// memStats are the parts of the Go runtime's memory statistics that
// explain a process's RSS.
type memStats struct {
	HeapAlloc int64 // bytes of allocated heap objects (live ones only right after a GC)
	HeapInuse int64 // bytes in in-use heap spans (live objects and not yet swept garbage)
	Stack     int64 // bytes of goroutine stacks
	Sys       int64 // bytes obtained from the OS
}

var memStatLine = regexp.MustCompile(`(?m)^# (HeapAlloc|HeapInuse|Stack|Sys) = (\d+)`)

// memStats reads runtime.MemStats from the heap profile's debug=1 trailer
// (no GC is forced).
func (p *proc) memStats(ctx context.Context) (memStats, error) {
	return p.readMemStats(ctx, false)
}

// liveMemStats is memStats right after a forced GC: HeapAlloc is then the
// live heap.
func (p *proc) liveMemStats(ctx context.Context) (memStats, error) {
	return p.readMemStats(ctx, true)
}

func (p *proc) readMemStats(ctx context.Context, gc bool) (memStats, error) {
	var m memStats
	if p.pprof == "" {
		return m, errors.New("no pprof endpoint")
	}
	url := "http://" + p.pprof + "/debug/pprof/heap?debug=1"
	if gc {
		url += "&gc=1"
	}
	body, err := fetch(ctx, pprofClient, url, 64<<20)
	if err != nil {
		return m, err
	}
	found := 0
	for _, g := range memStatLine.FindAllSubmatch(body, -1) {
		v, err := strconv.ParseInt(string(g[2]), 10, 64)
		if err != nil {
			return m, err
		}
		switch string(g[1]) {
		case "HeapAlloc":
			m.HeapAlloc = v
		case "HeapInuse":
			m.HeapInuse = v
		case "Stack":
			m.Stack = v
		case "Sys":
			m.Sys = v
		}
		found++
	}
	if found < 4 {
		return m, errors.New("no runtime.MemStats in the heap profile")
	}
	return m, nil
}

// saveProfile stores /debug/pprof/<path> of the process in file.
func (p *proc) saveProfile(ctx context.Context, path, file string) error {
	if p.pprof == "" {
		return errors.New("no pprof endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.pprof+"/debug/pprof/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := pprofClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", path, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofClient talks to profiling and health endpoints; its connections are
// not kept, so they do not show up in the measured processes.
var pprofClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// fetch GETs url with c and returns at most limit bytes of a 200 answer.
func fetch(ctx context.Context, c *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return b, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// baseEnv is the environment handed to children: only what a Go program
// needs, plus the runtime knobs a user may have set on purpose, so that the
// caller's spark configuration (PORT, DATABASE_URL, ...) cannot leak in.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startRole re-executes this binary as a helper role and waits for its
// "ready ADDR PPROF" line.
func startRole(ctx context.Context, key, name, role, logPath string, extraEnv ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command(self)
	cmd.Env = append(append(baseEnv(), roleEnv+"="+role), extraEnv...)
	cmd.Stdout = pw
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		pw.Close()
		return nil, err
	}
	p := &proc{key: key, name: name, cmd: cmd, log: logPath, stdin: stdin}
	err = p.start()
	pw.Close()
	if err != nil {
		return nil, err
	}
	type ready struct {
		line string
		err  error
	}
	rc := make(chan ready, 1)
	go func() {
		line, err := bufio.NewReader(pr).ReadString('\n')
		rc <- ready{line, err}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case r := <-rc:
		f := strings.Fields(r.line)
		if r.err != nil || len(f) != 3 || f[0] != "ready" {
			p.stop()
			return nil, fmt.Errorf("%s did not start: %q %v: %s", name, r.line, r.err, p.exitNote())
		}
		p.addr, p.pprof = f[1], f[2]
		return p, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not start within 30 s", name)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// runRole serves a helper role until stdin closes or a signal arrives.
func runRole(role string) int {
	var h http.Handler
	var srv *http.Server
	switch role {
	case "sim":
		h = simulator.New(simulator.Options{DeltaDelay: 0})
		// As `spark simulate` serves it.
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	case "proxy":
		up, err := url.Parse(os.Getenv(upstreamEnv))
		if err != nil || up.Host == "" {
			fmt.Fprintf(os.Stderr, "bench proxy: bad %s %q\n", upstreamEnv, os.Getenv(upstreamEnv))
			return 2
		}
		h = newBareProxy(up)
		// The same server settings as spark's (cmd/spark newHTTPServer).
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown role %q\n", role)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench role:", err)
		return 1
	}
	if certFile := os.Getenv(certEnv); role == "sim" && certFile != "" {
		// As `spark simulate --tls --cert-out FILE` serves it.
		cert, err := simulator.NewCertificate()
		if err == nil {
			err = os.WriteFile(certFile, cert.PEM, 0o600)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench sim:", err)
			return 1
		}
		ln = tls.NewListener(ln, cert.ServerConfig())
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench role:", err)
		return 1
	}
	go func() { _ = srv.Serve(ln) }()
	psrv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = psrv.Serve(pln) }()
	fmt.Printf("ready %s %s\n", ln.Addr(), pln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-sig:
	case <-eof:
	}
	_ = srv.Close()
	_ = psrv.Close()
	return 0
}

// newBareProxy is the baseline: a plain httputil.ReverseProxy to up, with a
// pooled transport configured like spark's upstream transport
// (internal/httpx), and nothing else.
func newBareProxy(up *url.URL) http.Handler {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(up) },
		Transport: tr,
	}
	// Full duplex: without it the server closes the inbound body as soon
	// as the response headers go out, and against an upstream that answers
	// before the transport's last body read the transport then tears the
	// upstream connection down mid-answer (golang/go#40747: "ReverseProxy
	// read error during body copy: use of closed network connection").
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// pprofMux serves net/http/pprof.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// goTool returns the go command.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// moduleRoot returns the directory of the spark module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the spark module: run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// buildSpark builds ./cmd/spark into dir.
func buildSpark(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "spark")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/spark")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/spark: %w\n%s", err, out)
	}
	return bin, nil
}

// sparkEnv is spark's configuration for the benchmark.
// certFile, when set, is the simulator's certificate, trusted through
// SSL_CERT_FILE as an operator would trust a corporate CA.
func sparkEnv(addr, simURL, certFile, dataDir, apiKey string, accounts int) []string {
	_, port, _ := net.SplitHostPort(addr)
	cookies := make([]string, accounts)
	for i := range cookies {
		cookies[i] = fmt.Sprintf("session_id=bench-%d", i+1)
	}
	env := append(baseEnv(),
		"PORT="+port,
		"HOST=127.0.0.1",
		"API_SECRET="+apiKey,
		"GS_COOKIE="+strings.Join(cookies, ","),
		"GENSPARK_BASE_URL="+simURL,
		"GEMINI_BASE_URL="+simURL,
		"GEMINI_UPLOAD_URL="+simURL,
		"GOOGLE_ACCOUNTS_URL="+simURL,
		"GOOGLE_AI_BASE_URL="+simURL,
		"DATA_DIR="+dataDir,
		"REQUEST_RATE_LIMIT=0",
		"ACCOUNT_MAX_CONCURRENCY=0",
	)
	if certFile != "" {
		env = append(env, "SSL_CERT_FILE="+certFile)
	}
	return env
}

// startSpark starts the spark binary and returns it with the time from
// exec to the first /healthz 200.
func startSpark(ctx context.Context, bin string, pprof bool, env []string, addr, logPath string) (*proc, time.Duration, error) {
	args := []string{"serve"}
	pprofAddr := ""
	if pprof {
		var err error
		if pprofAddr, err = freeLoopbackAddr(); err != nil {
			return nil, 0, err
		}
		args = append(args, "--pprof", pprofAddr)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{key: "spark", name: "spark", cmd: cmd, addr: addr, pprof: pprofAddr, log: logPath}
	t0 := time.Now()
	if err := p.start(); err != nil {
		return nil, 0, err
	}
	health := "http://" + addr + "/healthz"
	deadline := t0.Add(30 * time.Second)
	for {
		if !p.alive() {
			return nil, 0, errors.New(p.exitNote())
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			p.stop()
			return nil, 0, fmt.Errorf("spark did not answer /healthz 200 within 30 s: %v", ctx.Err())
		}
		if _, err := fetch(ctx, pprofClient, health, 64); err == nil {
			return p, time.Since(t0), nil
		}
		time.Sleep(time.Millisecond)
	}
}
