package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// interpolate expands compose's ${NAME}, ${NAME:-default} and
// ${NAME:?message} forms from vars; a required variable missing from vars
// fails the test.
func interpolate(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	re := regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		p := re.FindStringSubmatch(m)
		v, ok := vars[p[1]]
		switch {
		case ok && v != "":
			return v
		case p[2] == "-":
			return p[3]
		case p[2] == "?":
			t.Fatalf("docker-compose.yml needs %s: %s", p[1], p[3])
		}
		return ""
	})
}

// TestComposeReplicas starts the spark services of docker-compose.yml as
// real processes — each with its environment from the file, pointed at the
// test's PostgreSQL and Redis (SPARK_TEST_DATABASE_URL,
// SPARK_TEST_REDIS_URL), on its own loopback port and data directory — and
// checks that both replicas become ready and accept the same client key.
// Without those services it is skipped, unless SPARK_REQUIRE_SERVICES=1.
func TestComposeReplicas(t *testing.T) {
	dbURL, redisURL := os.Getenv("SPARK_TEST_DATABASE_URL"), os.Getenv("SPARK_TEST_REDIS_URL")
	if dbURL == "" || redisURL == "" {
		msg := "SPARK_TEST_DATABASE_URL and SPARK_TEST_REDIS_URL are not both set (scripts/services/postgres.sh, redis.sh)"
		if os.Getenv("SPARK_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var replicas []string
	for name, svc := range cf.Services {
		if svc.Build != nil {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if len(replicas) < 2 {
		t.Fatalf("docker-compose.yml builds %d spark services, want at least 2: %v", len(replicas), replicas)
	}

	bin := sparkBinary(t)

	const key = "sk-compose-test-key-0123456789"
	vars := map[string]string{"SPARK_SECRET_KEY": strings.Repeat("ab", 32), "API_SECRET": key}
	for _, name := range replicas {
		env := map[string]string{}
		for k, v := range cf.Services[name].Environment {
			env[k] = interpolate(t, v, vars)
		}
		for _, k := range []string{"DATABASE_URL", "REDIS_URL", "SPARK_SECRET_KEY", "API_SECRET", "HOST", "PORT", "DATA_DIR", "METRICS_ADDR", "LOG_FORMAT", "SHUTDOWN_TIMEOUT"} {
			if _, ok := env[k]; !ok {
				t.Errorf("%s: no %s in its environment", name, k)
			}
		}
		// The test's services and loopback instead of the compose network.
		env["DATABASE_URL"], env["REDIS_URL"] = dbURL, redisURL
		env["HOST"], env["PORT"], env["METRICS_ADDR"] = "127.0.0.1", "0", "127.0.0.1:0"
		env["DATA_DIR"] = t.TempDir()
		base := startReplica(t, bin, name, env).url
		for _, probe := range []struct{ path, auth string }{{"/readyz", ""}, {"/v1/models", "Bearer " + key}} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+probe.path, nil)
			if probe.auth != "" {
				req.Header.Set("Authorization", probe.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", name, probe.path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s: %d %s", name, probe.path, resp.StatusCode, b)
			}
		}
	}
}

// The spark binary the process tests run, built once per test binary
// (CGO_ENABLED=0, as the Dockerfile builds it) into binDir, which TestMain
// removes.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sparkBinary builds ./cmd/spark on the first call and returns its path.
func sparkBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "spark-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "spark")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// replicaProcess is a running `spark serve`.
type replicaProcess struct {
	url    string // its base URL
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
}

// kill ends the process with SIGKILL (no drain, no release of anything it
// holds) and waits until it has exited.
func (p *replicaProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-p.exited
}

// startReplica runs bin with exactly env and returns it once listening
// (its base URL read from its "spark listening" log line, LOG_FORMAT=json);
// it is stopped with SIGINT when the test ends.
func startReplica(t *testing.T, bin, name string, env map[string]string) *replicaProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.Command(bin, "serve")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // fails harmlessly once it has exited
		<-exited
	})
	addr := make(chan string, 1)
	var tail []string
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "spark listening" {
				addr <- rec.Addr
			}
			if len(tail) < 50 {
				tail = append(tail, line)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		return &replicaProcess{url: "http://" + a, cmd: cmd, exited: exited}
	case <-exited:
		t.Fatalf("%s exited before listening:\n%s", name, strings.Join(tail, "\n"))
	case <-ctx.Done():
		t.Fatalf("%s did not start listening", name)
	}
	return nil
}
