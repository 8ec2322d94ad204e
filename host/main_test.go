package host

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Built test plugins (TestMain builds them once per test binary).
var (
	binDir       string
	modelBin     string
	rawModelBin  string
	challengeBin string
	attackerBin  string
)

func TestMain(m *testing.M) {
	if os.Getenv("HOSTTEST_HELPER") == "host" {
		runHelperHost()
		return
	}
	dir, err := os.MkdirTemp("", "hosttest-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdtemp:", err)
		os.Exit(2)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"./testdata/plugins/model", "./testdata/plugins/rawmodel", "./testdata/plugins/challenge", "./testdata/plugins/attacker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test plugins: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(2)
	}
	modelBin = filepath.Join(dir, "model")
	rawModelBin = filepath.Join(dir, "rawmodel")
	challengeBin = filepath.Join(dir, "challenge")
	attackerBin = filepath.Join(dir, "attacker")
	code := m.Run()
	// Global leak check: no child of this process, no process running one of
	// the built plugins.
	if code == 0 {
		if left := waitNoProcs(func(p procInfo) bool {
			return p.ppid == os.Getpid() || strings.HasPrefix(p.exe, dir)
		}, 5*time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "plugin processes left after the tests: %v\n", left)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var markerSeq atomic.Int64

// testEnv returns a marker unique to t; every plugin of t gets it in its
// environment so the leak check finds it and its grandchildren.
func testMarker(t *testing.T) string {
	t.Helper()
	m := fmt.Sprintf("HOSTTEST_MARKER=%d-%d", os.Getpid(), markerSeq.Add(1))
	t.Cleanup(func() {
		if left := waitNoProcs(func(p procInfo) bool { return p.hasEnv(m) }, 5*time.Second); len(left) > 0 {
			t.Errorf("processes left by this test (marker %s): %v", m, left)
		}
	})
	return m
}

func mspec(marker, id, bin string, args ...string) PluginSpec {
	return PluginSpec{ID: id, Path: bin, Args: args, Env: []string{marker}, StartTimeout: 10 * time.Second}
}

// testOptions are fast options for tests: small backoff, short kill bound,
// a logger into the test log.
func testOptions(t *testing.T) Options {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) }) // runs after the Close cleanups (LIFO)
	return Options{
		Logger:            hclog.New(&hclog.LoggerOptions{Name: "hosttest", Level: hclog.Warn, Output: w}),
		CallTimeout:       3 * time.Second,
		DescribeTimeout:   3 * time.Second,
		RestartBackoffMin: 5 * time.Millisecond,
		RestartBackoffMax: 20 * time.Millisecond,
		KillTimeout:       2 * time.Second,
	}
}

type tWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

type procInfo struct {
	pid   int
	ppid  int
	state string
	exe   string
	env   []byte
}

func (p procInfo) hasEnv(kv string) bool {
	for _, e := range bytes.Split(p.env, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}

func (p procInfo) String() string {
	return fmt.Sprintf("pid %d ppid %d state %s %s", p.pid, p.ppid, p.state, p.exe)
}

// listProcs scans /proc. Zombies that are not our children are dead
// (waiting for an init that may not reap) and are skipped.
func listProcs() []procInfo {
	ents, _ := os.ReadDir("/proc")
	var out []procInfo
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		p := procInfo{pid: pid, ppid: ppid, state: f[0]}
		if p.state == "Z" && ppid != self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		p.exe = string(bytes.SplitN(cmdline, []byte{0}, 2)[0])
		p.env, _ = os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		out = append(out, p)
	}
	return out
}

// waitNoProcs polls until no process matches, or returns the matches after
// timeout (SIGKILL delivery and reaping by init are asynchronous).
func waitNoProcs(match func(procInfo) bool, timeout time.Duration) []procInfo {
	deadline := time.Now().Add(timeout)
	for {
		var left []procInfo
		for _, p := range listProcs() {
			if match(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
