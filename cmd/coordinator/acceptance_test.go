package main

// Acceptance test of issue 7, run as a user would: build the binary, `init`
// a workspace, then `dev` replays real candles from the node folder with
// --exit-after-verify. CI replays one day (the flow uses a week).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const acceptanceCSV = "binance-us-BTCUSDT-1m-2023-03-01..21.csv"

// exampleModels are the baseline pack's example models: four Go plugins
// (the constant 0.5 reference and three calibrated models) and their
// Python twins (served by the model runner).
var exampleModels = []string{"constant", "mean-reversion", "trend-following", "volatility-regime",
	"py-constant", "py-mean-reversion", "py-trend-following", "py-volatility-regime"}

// accept is the built binary and the initialised workspace shared by the
// tests of this file (created once, on first use).
var accept struct {
	once    sync.Once
	err     error
	tmp     string // removed by TestMain
	bin     string // $TMP/bin/coordinator
	nodeDir string // $TMP/btc-up/crunch-node-btc-up
	replay  string // the shared CSV, relative to nodeDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if accept.tmp != "" {
		os.RemoveAll(accept.tmp)
	}
	os.Exit(code)
}

// setup builds the binary (`go build -o $TMP/bin/coordinator
// ./cmd/coordinator`, as `make build` does) and runs `coordinator init
// btc-up --output $TMP`, once per test binary.
func setup(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the coordinator and a workspace and replays real candles (slow); run without -short")
	}
	accept.once.Do(func() { accept.err = doSetup() })
	if accept.err != nil {
		t.Fatal(accept.err)
	}
}

func doSetup() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", acceptanceCSV)
	if _, err := os.Stat(csvPath); err != nil {
		return fmt.Errorf("the shared candles: %w", err)
	}
	tmp, err := os.MkdirTemp("", "coordinator-acceptance-")
	if err != nil {
		return err
	}
	accept.tmp = tmp
	accept.bin = filepath.Join(tmp, "bin", "coordinator")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", accept.bin, "./cmd/coordinator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s ./cmd/coordinator: %w\n%s", accept.bin, err, out)
	}
	res := runCoordinator(ctx, tmp, "init", "btc-up", "--output", tmp)
	if res.code != 0 {
		return fmt.Errorf("coordinator init btc-up --output %s: exit %d\nstdout:\n%s\nstderr:\n%s", tmp, res.code, res.stdout, res.stderr)
	}
	accept.nodeDir = filepath.Join(tmp, "btc-up", "crunch-node-btc-up")
	if _, err := os.Stat(filepath.Join(accept.nodeDir, "config", "callables.env")); err != nil {
		return fmt.Errorf("init did not create the node workspace: %w\n%s", err, res.stdout)
	}
	// The issue's ../../shared/data/... adjusted to where ../shared is
	// from the node folder.
	accept.replay, err = filepath.Rel(accept.nodeDir, csvPath)
	return err
}

// result is one finished coordinator process.
type result struct {
	code           int
	stdout, stderr string
}

// runCoordinator runs the built binary in dir with args. The environment
// is the test's minus every variable the node configuration reads, so
// .local.env decides, as on a clean machine.
func runCoordinator(ctx context.Context, dir string, args ...string) result {
	cmd := exec.CommandContext(ctx, accept.bin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		fmt.Fprintf(&stderr, "\n[test] run %s: %v", accept.bin, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv drops the variables .local.env holds (DATABASE_URL, API_ADDR,
// FEED_*, ...) and COORDINATOR_* from the environment.
func cleanEnv() []string {
	drop := []string{"DATABASE_URL=", "API_ADDR=", "CRUNCH_ID=", "COORDINATOR_", "FEED_", "PYTH_", "BINANCE_", "LOG_",
		"CHECKPOINT_", "SCORE_", "LEADERBOARD_", "MODEL_", "CHALLENGE_", "GROUND_TRUTH_"}
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAcceptanceDevReplay is issue 7's acceptance on one day of candles:
// dev exits 0, verification passes and the six example models (Go and
// Python) are ranked in the printed leaderboard; no plugin process is left.
func TestAcceptanceDevReplay(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	res := runCoordinator(ctx, accept.nodeDir, "dev", "--feed", "replay", "--replay-file", accept.replay,
		"--speed", "max", "--until", "2023-03-02T00:00:00Z", "--exit-after-verify", "--api-addr", freeAddr(t))
	t.Logf("coordinator dev ran %s; stdout:\n%s", time.Since(start).Round(time.Millisecond), res.stdout)
	if res.code != 0 {
		t.Fatalf("coordinator dev: exit %d, expected 0\nstdout:\n%s\nstderr (tail):\n%s", res.code, res.stdout, tail(res.stderr, 40))
	}
	if !strings.Contains(res.stdout, "verify    PASSED") {
		t.Errorf("stdout lacks \"verify    PASSED\":\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "replayed  1441 candles 2023-03-01T00:00:00Z to 2023-03-02T00:00:00Z, no gaps") {
		t.Errorf("stdout lacks the replay summary of the 1441 candles replayed (00:00 to 00:00 the next day):\n%s", res.stdout)
	}
	ranks := leaderboardRanks(t, res.stdout)
	if len(ranks) != len(exampleModels) {
		t.Fatalf("printed leaderboard: expected %d ranked models, found %v\nstdout:\n%s", len(exampleModels), ranks, res.stdout)
	}
	seen := map[int]bool{}
	for _, id := range exampleModels {
		r, ok := ranks[id]
		if !ok || r < 1 || r > len(exampleModels) {
			t.Errorf("printed leaderboard: model %s: expected a rank in 1-%d, found %v (ok %v)", id, len(exampleModels), r, ok)
		}
		seen[r] = true
	}
	if !seen[1] {
		t.Errorf("printed leaderboard: no model ranked 1: %v", ranks)
	}
	checkNoProcessesUnder(t, accept.tmp)
}

// leaderboardRanks parses the leaderboard table dev prints: a header line
// "rank  model  recent 24h ..." then one "<rank> <model id> <scores...>"
// line per model, up to the next blank line.
func leaderboardRanks(t *testing.T, stdout string) map[string]int {
	t.Helper()
	lines := strings.Split(stdout, "\n")
	out := map[string]int{}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "rank" || f[1] != "model" {
			continue
		}
		for _, row := range lines[i+1:] {
			f := strings.Fields(row)
			if len(f) == 0 {
				break
			}
			rank, err := strconv.Atoi(f[0])
			if err != nil || len(f) != 5 {
				t.Errorf("leaderboard row %q: expected rank, model and three window scores", row)
				continue
			}
			for _, s := range f[2:] {
				if v, err := strconv.ParseFloat(s, 64); err != nil || v < 0 || v > 1 {
					t.Errorf("leaderboard row %q: score %q: expected a number in [0, 1] (Brier skill)", row, s)
				}
			}
			out[f[1]] = rank
		}
		return out
	}
	t.Errorf("no leaderboard table (header \"rank model ...\") in stdout:\n%s", stdout)
	return out
}

// TestAcceptanceDevExitCodes: a verification that fails exits 1 with a
// message naming the failed check; bad flags exit 2 naming the flag.
func TestAcceptanceDevExitCodes(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("verification fails", func(t *testing.T) {
		// One candle: it closes at 00:01, so the predictions made then
		// resolve at 00:02 at the earliest, a close the feed never
		// reaches (candles count at their close): nothing is scored. Own database: the default one may
		// hold a previous run's scores.
		db := "sqlite://" + filepath.Join(t.TempDir(), "short.db")
		res := runCoordinator(ctx, accept.nodeDir, "dev", "--feed", "replay", "--replay-file", accept.replay,
			"--speed", "max", "--until", "2023-03-01T00:00:00Z", "--exit-after-verify", "--api-addr", freeAddr(t), "--db", db)
		if res.code != 1 {
			t.Fatalf("exit %d, expected 1\nstdout:\n%s\nstderr (tail):\n%s", res.code, res.stdout, tail(res.stderr, 40))
		}
		for _, want := range []string{
			"replayed  1 candles 2023-03-01T00:00:00Z to 2023-03-01T00:00:00Z, no gaps",
			"verify    FAIL scored predictions:",
			"none scored yet",
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
			}
		}
		if strings.Contains(res.stdout, "verify    PASSED") {
			t.Errorf("stdout claims the verification passed:\n%s", res.stdout)
		}
		if !strings.Contains(res.stderr, "Error: end-to-end verification failed: see the failed checks above and "+filepath.Join(accept.nodeDir, ".coordinator", "logs", "node.log")) {
			t.Errorf("stderr lacks the precise error line:\n%s", tail(res.stderr, 20))
		}
		checkNoProcessesUnder(t, accept.tmp)
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"speed fast", []string{"--speed", "fast"}, `Error: --speed: expected a positive number or max, found "fast"`},
		{"until garbage", []string{"--until", "garbage"}, `Error: --until: expected RFC 3339 (2023-03-08T00:00:00Z) or a date (2023-03-08), found "garbage"`},
		{"unknown flag", []string{"--speeed", "max"}, "unknown flag: --speeed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"dev", "--feed", "replay", "--replay-file", accept.replay, "--exit-after-verify", "--api-addr", freeAddr(t)}, tc.args...)
			res := runCoordinator(ctx, accept.nodeDir, args...)
			if res.code != 2 {
				t.Fatalf("exit %d, expected 2\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("a usage error started the node; stdout:\n%s", res.stdout)
			}
		})
	}
}

// checkNoProcessesUnder fails when a process of the OS process table runs
// an executable from dir (Linux /proc): the coordinator itself or a plugin.
func checkNoProcessesUnder(t *testing.T, dir string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Logf("process table check skipped on %s", runtime.GOOS)
		return
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left = left[:0]
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatalf("read the process table: %v", err)
		}
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
			if err != nil {
				b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				exe, _, _ = strings.Cut(string(b), "\x00")
			}
			exe = strings.TrimSuffix(exe, " (deleted)")
			if strings.HasPrefix(exe, dir+string(filepath.Separator)) {
				left = append(left, "pid "+e.Name()+" "+exe)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left running after coordinator dev exited:\n%s", strings.Join(left, "\n"))
	}
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
