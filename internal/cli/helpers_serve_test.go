package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Shared fixtures of the serve, migrate and demo tests: one coordinator
// binary, one rendered workspace and one demo workspace whose plugins were
// built (by `demo --start`) per test binary, all under sharedRoot.
var (
	sharedRoot string

	binOnce sync.Once
	binPath string
	binErr  error

	renderOnce   sync.Once
	renderedNode string
	renderErr    error

	demoOnce sync.Once
	demoRes  demoRun
)

// demoRun is the outcome of the shared `demo --start` subprocess.
type demoRun struct {
	node   string
	code   int
	output string
	err    error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coordinator-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create the shared test folder:", err)
		os.Exit(1)
	}
	sharedRoot = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "remove the shared test folder:", err)
	}
	os.Exit(code)
}

// cliRepoRoot walks up from the working directory to the folder holding
// go.mod.
func cliRepoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// replayCSV is the shared real-candle file (never copied into the repo).
func replayCSV(t *testing.T) string {
	t.Helper()
	p := filepath.Join(cliRepoRoot(t), "..", "shared", "data", "binance-us-BTCUSDT-1m-2023-03-01..21.csv")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("replay CSV: %v", err)
	}
	return p
}

// coordinatorBinary builds cmd/coordinator once per test binary.
func coordinatorBinary(t *testing.T) string {
	t.Helper()
	root := cliRepoRoot(t)
	binOnce.Do(func() {
		binPath = filepath.Join(sharedRoot, "coordinator")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/coordinator")
		cmd.Dir = root
		cmd.Env = subprocessEnv(nil)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/coordinator: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// renderedWorkspace renders the demo workspace in-process once (no plugin
// build) and returns its node directory.
func renderedWorkspace(t *testing.T) string {
	t.Helper()
	root := cliRepoRoot(t)
	renderOnce.Do(func() {
		f, out, errOut := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": root})
		f.WorkDir = sharedRoot
		if code := Execute(f, []string{"demo", "--output", "rendered"}); code != 0 {
			renderErr = fmt.Errorf("demo --output rendered: exit %d: %s%s", code, out, errOut)
			return
		}
		renderedNode = filepath.Join(sharedRoot, "rendered", DemoName, "crunch-node-"+DemoName)
	})
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renderedNode
}

// demoWorkspace runs `coordinator demo --start` on a replay of the first
// hours of the shared CSV once (building every plugin) and returns the
// outcome; serve tests reuse its built plugins with --skip-build.
func demoWorkspace(t *testing.T) demoRun {
	t.Helper()
	bin := coordinatorBinary(t)
	root := cliRepoRoot(t)
	csv := replayCSV(t)
	demoOnce.Do(func() {
		out := filepath.Join(sharedRoot, "demo")
		if err := os.MkdirAll(out, 0o755); err != nil {
			demoRes.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "demo", "--output", out, "--start", "--feed", "replay", "--replay-file", csv,
			"--until", "2023-03-01T06:00:00Z", "--exit-after-verify", "--api-addr", "127.0.0.1:0")
		cmd.Dir = out
		cmd.Env = subprocessEnv(map[string]string{"COORDINATOR_SOURCE_DIR": root})
		b, err := cmd.CombinedOutput()
		demoRes = demoRun{node: filepath.Join(out, DemoName, "crunch-node-"+DemoName), output: string(b), code: cmd.ProcessState.ExitCode()}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			demoRes.err = err
		}
	})
	return demoRes
}

// builtWorkspace returns the demo node directory, failing the test when
// the shared demo run did not succeed.
func builtWorkspace(t *testing.T) string {
	t.Helper()
	d := demoWorkspace(t)
	if d.err != nil || d.code != 0 {
		t.Fatalf("shared `demo --start` failed (exit %d, %v):\n%s", d.code, d.err, tail(d.output, 40))
	}
	return d.node
}

// subprocessEnv is the Go toolchain environment (PATH, HOME, TMPDIR, GO*)
// plus extra: no node setting of the developer's shell leaks in.
func subprocessEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "HOME" || k == "TMPDIR" || (strings.HasPrefix(k, "GO") && k != "GOFLAGS") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// serveProc is a running `coordinator serve` subprocess whose JSON log
// lines (LOG_FORMAT=json on stderr) are collected.
type serveProc struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []string
	logs  []map[string]any
	added chan struct{}
}

// startServe starts the coordinator binary with args in dir with env (plus
// LOG_FORMAT=json); it is killed at the end of the test if still running.
func startServe(t *testing.T, dir string, env map[string]string, args ...string) *serveProc {
	t.Helper()
	all := map[string]string{"LOG_FORMAT": "json"}
	for k, v := range env {
		all[k] = v
	}
	cmd := exec.Command(coordinatorBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = subprocessEnv(all)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{}), added: make(chan struct{}, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var m map[string]any
			_ = json.Unmarshal([]byte(line), &m)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if m != nil {
				p.logs = append(p.logs, m)
			}
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLog waits (up to limit, a hang guard) for a JSON log line whose
// @message contains msg and returns it.
func (p *serveProc) waitLog(t *testing.T, msg string, limit time.Duration) map[string]any {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.logs); seen++ {
			if m, _ := p.logs[seen]["@message"].(string); strings.Contains(m, msg) {
				l := p.logs[seen]
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-p.done:
			p.mu.Lock()
			n := len(p.logs)
			p.mu.Unlock()
			if seen >= n {
				t.Fatalf("serve exited (%v) before logging %q:\n%s", p.cmd.ProcessState, msg, p.output())
			}
		case <-deadline.C:
			t.Fatalf("no log line %q within %s:\n%s", msg, limit, p.output())
		}
	}
}

// output returns the last stderr lines.
func (p *serveProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return tail(strings.Join(p.lines, "\n"), 30)
}

// terminate sends SIGTERM and returns the exit code.
func (p *serveProc) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("serve did not exit within 90s of SIGTERM:\n%s", p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// pluginProcesses lists the running processes whose executable lies under
// binDir (Linux /proc); nil elsewhere.
func pluginProcesses(t *testing.T, binDir string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var out []string
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") != "" {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, binDir+string(filepath.Separator)) {
			out = append(out, e.Name()+" "+exe)
		}
	}
	return out
}
