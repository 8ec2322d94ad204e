package main

// End-to-end tests of issue 17 through the built binary: a workspace that
// selects a service factory makes dev, serve and doctor build the node
// binary with its extensions/ (go.work + overlay, .coordinator/bin/node)
// and run it; a v1 workspace builds nothing extra.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/layout"
)

// extWorkspace runs `coordinator init <name> --models go [--with-extension
// ext]` under the shared temporary folder and keeps one model in
// config/models.json (fewer plugins to build and start). It returns the
// node folder.
func extWorkspace(t *testing.T, ctx context.Context, name, ext string) string {
	t.Helper()
	args := []string{"init", name, "--models", "go", "--output", accept.tmp}
	if ext != "" {
		args = append(args, "--with-extension", ext)
	}
	if res := runCoordinator(ctx, accept.tmp, args...); res.code != 0 {
		t.Fatalf("coordinator %s: exit %d\n%s\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	node := filepath.Join(accept.tmp, name, "crunch-node-"+name)
	path := filepath.Join(node, "config", "models.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var models []json.RawMessage
	if err := json.Unmarshal(raw, &models); err != nil || len(models) == 0 {
		t.Fatalf("%s: expected a JSON array of models: %v\n%s", path, err, raw)
	}
	one, _ := json.Marshal(models[:1])
	if err := os.WriteFile(path, one, 0o644); err != nil {
		t.Fatal(err)
	}
	return node
}

// replayArgs are dev's arguments replaying the shared candles up to until.
func replayArgs(addr, until string, more ...string) []string {
	return append([]string{"dev", "--feed", "replay", "--replay-file", accept.replay, "--speed", "max",
		"--until", until, "--api-addr", addr}, more...)
}

// TestExtensionReportApp: with REPORT_APP_FACTORY=custom-report (init
// --with-extension custom-report), doctor builds the node binary and finds
// the factory, dev replays 6 h through the node binary and serves the extra
// /reports/summary route beside the built-in ones, `serve report` serves it
// from the replay's database, and a misspelt factory stops dev and fails
// doctor with the name and a did-you-mean.
func TestExtensionReportApp(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	node := extWorkspace(t, ctx, "rep", "custom-report")
	l := layout.Of(node)

	t.Run("doctor", func(t *testing.T) {
		res := runCoordinatorEnv(ctx, node, nil, "doctor", "--offline", "--json")
		rs := doctorResults(t, res)
		for _, want := range [][2]string{
			{"services", "replaced: report by custom-report (REPORT_APP_FACTORY); built-in: predict, score"},
			{"REPORT_APP_FACTORY=custom-report", "/extensions (extend API v1); replaces the built-in report service"},
		} {
			if r, ok := rs[want[0]]; !ok || r.Status != "pass" || !strings.Contains(r.Message, want[1]) {
				t.Errorf("doctor: check %q: expected pass with %q, found %+v\n%s", want[0], want[1], r, res.stdout)
			}
		}
		if _, err := os.Stat(l.NodeBinary()); err != nil {
			t.Errorf("doctor did not build the node binary: %v", err)
		}
	})

	t.Run("misspelt factory", func(t *testing.T) {
		env := []string{"REPORT_APP_FACTORY=custom-reprot"}
		res := runCoordinatorEnv(ctx, node, env, "doctor", "--offline", "--json")
		r := doctorResults(t, res)["REPORT_APP_FACTORY=custom-reprot"]
		if res.code != 1 || r.Status != "fail" || !strings.Contains(r.Message, `no report factory named "custom-reprot" is registered`) ||
			!strings.Contains(r.Fix, `did you mean "custom-report"? set REPORT_APP_FACTORY=custom-report`) {
			t.Errorf("doctor: exit %d, result %+v; expected exit 1 and a failure naming the factory with a did-you-mean\n%s", res.code, r, res.stdout)
		}
		res = runCoordinatorEnv(ctx, node, env, replayArgs(freeAddr(t), "2023-03-01T01:00:00Z", "--exit-after-verify")...)
		for _, want := range []string{
			"REPORT_APP_FACTORY=custom-reprot: no report factory of that name is registered (registered: [custom-report])",
			"unset REPORT_APP_FACTORY for the built-in service",
		} {
			if res.code == 0 || !strings.Contains(res.stderr, want) {
				t.Errorf("dev with a misspelt factory: exit %d, stderr lacks %q:\n%s", res.code, want, tail(res.stderr, 20))
			}
		}
		if strings.Contains(res.stdout, "replayed ") {
			t.Errorf("dev replayed with an unknown factory:\n%s", res.stdout)
		}
		checkNoProcessesUnder(t, accept.tmp)
	})

	t.Run("dev", func(t *testing.T) {
		addr := freeAddr(t)
		p := startCoordinator(t, ctx, node, nil, replayArgs(addr, "2023-03-01T06:00:00Z")...)
		p.waitStdout(t, "replay done; the report API stays up", 2*time.Minute)
		for _, want := range []string{"extensions up to date: " + l.NodeBinary(), "service   report replaced by the factory custom-report (extensions/)"} {
			if !strings.Contains(p.stdout.String(), want) {
				t.Errorf("dev stdout lacks %q:\n%s", want, p.stdout.String())
			}
		}
		checkSummary(t, "http://"+addr)
		if code := p.stop(t); code != 0 {
			t.Errorf("dev after SIGTERM: exit %d, expected 0\n%s", code, tail(p.stderr.String(), 20))
		}
	})

	t.Run("serve report", func(t *testing.T) {
		addr := freeAddr(t)
		env := []string{"DATABASE_URL=sqlite://" + l.ReplayDatabase(), "API_ADDR=" + addr}
		p := startCoordinator(t, ctx, node, env, "serve", "report")
		waitHTTP(t, "http://"+addr+"/healthz", p, time.Minute)
		checkSummary(t, "http://"+addr)
		if code := p.stop(t); code != 0 {
			t.Errorf("serve report after SIGTERM: exit %d, expected 0\n%s", code, tail(p.stderr.String(), 20))
		}
		if !strings.Contains(p.stderr.String(), "extensions up to date: "+l.NodeBinary()) {
			t.Errorf("serve did not run the node binary built with the extensions:\n%s", tail(p.stderr.String(), 20))
		}
	})
	checkNoProcessesUnder(t, accept.tmp)
}

// checkSummary reads the custom-report route /reports/summary and the
// built-in /reports/leaderboard it wraps: one model, ranked first.
func checkSummary(t *testing.T, base string) {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, base+"/reports/summary", "")
	var s struct {
		Models int    `json:"models"`
		Leader string `json:"leader"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil || s.Models != 1 || s.Leader == "" {
		t.Errorf("GET /reports/summary: %d %s; expected 200 with one model and its leader", code, body)
	}
	if code, body := httpDo(t, http.MethodGet, base+"/reports/leaderboard", ""); code != http.StatusOK || !strings.Contains(body, `"`+s.Leader+`"`) {
		t.Errorf("GET /reports/leaderboard (built-in, through the replacement): %d %s", code, body)
	}
}

// TestExtensionTournamentRounds: with PREDICT_SERVICE_FACTORY=
// tournament-rounds, a start without TOURNAMENT_API_TOKEN stops with the
// factory's name and the fix; with it, dev replays an hour without
// predicting (the rounds replace the predict loop) and an authenticated
// POST /tournament/rounds runs a round that stores predictions, while a
// call without the token is refused.
func TestExtensionTournamentRounds(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	node := extWorkspace(t, ctx, "tour", "tournament-rounds")
	roundsAddr := freeAddr(t)
	f, err := os.OpenFile(filepath.Join(node, ".local.env"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\nCOORDINATOR_ALLOW_VARS=TOURNAMENT_API_TOKEN,TOURNAMENT_API_ADDR\nTOURNAMENT_API_ADDR=%s\n", roundsAddr)
	f.Close()

	res := runCoordinatorEnv(ctx, node, nil, replayArgs(freeAddr(t), "2023-03-01T01:00:00Z", "--exit-after-verify")...)
	for _, want := range []string{
		"PREDICT_SERVICE_FACTORY=tournament-rounds: the factory failed: TOURNAMENT_API_TOKEN is unset",
		"unset PREDICT_SERVICE_FACTORY for the built-in predict service",
	} {
		if res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("dev without the token: exit %d, stderr lacks %q:\n%s", res.code, want, tail(res.stderr, 20))
		}
	}

	const token = "e2e-token"
	p := startCoordinator(t, ctx, node, []string{"TOURNAMENT_API_TOKEN=" + token},
		replayArgs(freeAddr(t), "2023-03-01T01:00:00Z", "--skip-e2e")...)
	p.waitStdout(t, "replay done; the report API stays up", 2*time.Minute)
	out := p.stdout.String()
	for _, want := range []string{"service   predict replaced by the factory tournament-rounds (extensions/)", "0 predict cycles, 0 predictions"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev stdout lacks %q:\n%s", want, out)
		}
	}
	rounds := "http://" + roundsAddr + "/tournament/rounds"
	for _, tok := range []string{"", "wrong"} {
		if code, body := httpDo(t, http.MethodPost, rounds, tok); code != http.StatusUnauthorized {
			t.Errorf("POST /tournament/rounds with token %q: %d %s; expected 401", tok, code, body)
		}
	}
	code, body := httpDo(t, http.MethodPost, rounds, token)
	var round struct {
		Number      int      `json:"number"`
		Due         []string `json:"due"`
		Predictions int      `json:"predictions"`
		Error       string   `json:"error"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &round) != nil || round.Number != 1 || len(round.Due) == 0 || round.Predictions < 1 || round.Error != "" {
		t.Errorf("POST /tournament/rounds: %d %s; expected round 1 with due slots and stored predictions", code, body)
	}
	if code, body := httpDo(t, http.MethodGet, rounds, token); code != http.StatusOK || !strings.Contains(body, `"number":1`) {
		t.Errorf("GET /tournament/rounds: %d %s", code, body)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("dev after SIGTERM: exit %d, expected 0\n%s", code, tail(p.stderr.String(), 20))
	}
	checkNoProcessesUnder(t, accept.tmp)
}

// TestExtensionV1BuildsNothing: a workspace without a service factory runs
// dev in the coordinator's own process: no node binary, no generated
// overlay, no go.work written or changed; doctor says the built-in
// services run.
func TestExtensionV1BuildsNothing(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := extWorkspace(t, ctx, "plain", "")
	l := layout.Of(node)
	work := filepath.Join(l.Root(), "go.work")
	before, err := os.ReadFile(work)
	if err != nil {
		t.Fatal(err)
	}
	res := runCoordinatorEnv(ctx, node, nil, replayArgs(freeAddr(t), "2023-03-01T00:30:00Z", "--skip-e2e", "--exit-after-verify")...)
	if res.code != 0 {
		t.Fatalf("dev: exit %d\n%s\n%s", res.code, res.stdout, tail(res.stderr, 20))
	}
	if strings.Contains(res.stdout, "extensions") {
		t.Errorf("dev of a v1 workspace mentions extensions:\n%s", res.stdout)
	}
	for _, p := range []string{l.NodeBinary(), filepath.Join(l.BuildDir(), "overlay.json"), filepath.Join(node, "go.work")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("dev of a v1 workspace created %s", p)
		}
	}
	if after, err := os.ReadFile(work); err != nil || !bytes.Equal(before, after) {
		t.Errorf("dev of a v1 workspace changed %s: %v", work, err)
	}
	res = runCoordinatorEnv(ctx, node, nil, "doctor", "--offline", "--skip-plugins")
	if !strings.Contains(res.stdout, "[pass] extensions  services  no service factory selected: the built-in predict, score and report services run") {
		t.Errorf("doctor of a v1 workspace:\n%s", res.stdout)
	}
}

// doctorResult is one element of `doctor --json`.
type doctorResult struct {
	Group, Check, Status, Message, Fix string
}

// doctorResults decodes `doctor --json` and returns the results of the
// extensions group by check.
func doctorResults(t *testing.T, res result) map[string]doctorResult {
	t.Helper()
	var rs []doctorResult
	if err := json.Unmarshal([]byte(res.stdout), &rs); err != nil {
		t.Fatalf("doctor --json: exit %d: %v\nstdout:\n%s\nstderr:\n%s", res.code, err, res.stdout, tail(res.stderr, 20))
	}
	out := map[string]doctorResult{}
	for _, r := range rs {
		if r.Group == "extensions" {
			out[r.Check] = r
		}
	}
	return out
}

// runCoordinatorEnv is runCoordinator with extra environment variables.
func runCoordinatorEnv(ctx context.Context, dir string, env []string, args ...string) result {
	p := newProc(ctx, dir, env, args)
	err := p.cmd.Run()
	return result{code: exitCode(err, p.stderr), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// proc is a coordinator process running in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error
}

func newProc(ctx context.Context, dir string, env []string, args []string) *proc {
	cmd := exec.CommandContext(ctx, accept.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	return p
}

// startCoordinator starts the built binary in the background; the test's
// cleanup kills it if it still runs.
func startCoordinator(t *testing.T, ctx context.Context, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := newProc(ctx, dir, env, args)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitStdout waits until stdout holds want; it fails the test when the
// process exits first or timeout passes.
func (p *proc) waitStdout(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(p.stdout.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.err, want, p.stdout.String(), tail(p.stderr.String(), 30))
		case <-deadline:
			t.Fatalf("no %q after %s\nstdout:\n%s\nstderr:\n%s", want, timeout, p.stdout.String(), tail(p.stderr.String(), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and returns the exit code (-1 when it had to be
// killed after a minute).
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return exitCode(p.err, p.stderr)
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("no exit within a minute of SIGTERM\n%s", tail(p.stderr.String(), 30))
		return -1
	}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	fmt.Fprintf(stderr, "\n[test] %v", err)
	return -1
}

// waitHTTP waits until url answers 200 (the process must keep running).
func waitHTTP(t *testing.T, url string, p *proc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("exited (%v) before %s answered\nstderr:\n%s", p.err, url, tail(p.stderr.String(), 30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (%v)\nstderr:\n%s", url, timeout, err, tail(p.stderr.String(), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// httpDo sends a request with an optional bearer token and returns the
// status and body.
func httpDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
