package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoRenders(t *testing.T) {
	root := cliRepoRoot(t)
	env := map[string]string{"COORDINATOR_SOURCE_DIR": root}
	f, out, errOut := newTestFactory(t, env)
	if code := Execute(f, []string{"demo", "--output", "ws"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	node := filepath.Join(f.WorkDir, "ws", "btc-up", "crunch-node-btc-up")
	want := "Demo workspace ready: " + node + "\nNext: cd " + node + " && coordinator dev\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	sched, err := os.ReadFile(filepath.Join(node, "config", "scheduled_prediction_configs.json"))
	if err != nil || !strings.Contains(string(sched), `"scope_key": "default"`) {
		t.Errorf("baseline schedules: %s %v", sched, err)
	}
	for _, p := range []string{"crunch-btc-up/cmd/challenge/main.go", "crunch-btc-up/examples/mean_reversion/main.go", "go.work"} {
		if _, err := os.Stat(filepath.Join(f.WorkDir, "ws", "btc-up", p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"exists without --force", []string{"demo", "--output", "ws"}, 2, "target already exists"},
		{"dev flag without --start", []string{"demo", "--output", "ws", "--force", "--feed", "replay"}, 2, "--feed is a dev option: it needs --start"},
		{"bad speed", []string{"demo", "--start", "--speed", "fast"}, 2, "--speed"},
		{"--force replaces", []string{"demo", "--output", "ws", "--force"}, 0, "Demo workspace ready: " + node},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f2, out2, errOut2 := newTestFactory(t, env)
			f2.WorkDir = f.WorkDir
			code := Execute(f2, c.args)
			if all := out2.String() + errOut2.String(); code != c.code || !strings.Contains(all, c.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", code, c.code, c.want, all)
			}
		})
	}
}

// TestDemoStartReplay: `demo --start` on a replay of real candles builds the
// plugins, runs dev, verifies end to end and exits 0 (the built binary, as
// a user runs it).
func TestDemoStartReplay(t *testing.T) {
	d := demoWorkspace(t)
	if d.err != nil || d.code != 0 {
		t.Fatalf("exit %d (%v), want 0:\n%s", d.code, d.err, tail(d.output, 40))
	}
	for _, w := range []string{"Demo workspace ready: " + d.node, "Starting: coordinator dev", "verify    PASSED"} {
		if !strings.Contains(d.output, w) {
			t.Errorf("output lacks %q:\n%s", w, tail(d.output, 40))
		}
	}
	if _, err := os.Stat(filepath.Join(d.node, ".coordinator", "bin", "challenge")); err != nil {
		t.Errorf("challenge plugin not built: %v", err)
	}
}
