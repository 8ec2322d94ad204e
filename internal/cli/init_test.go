package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitListPacks(t *testing.T) {
	f, out, _ := newTestFactory(t, nil)
	if code := Execute(f, []string{"init", "--list-packs"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "Available packs:\n" +
		"- baseline: Balanced default profile for local development.\n" +
		"- realtime: Low-latency tournament profile for short horizon updates.\n" +
		"- tournament: Combined in-sample and out-of-sample tournament profile.\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestInitCreatesWorkspace(t *testing.T) {
	f, out, errOut := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": "off"})
	if code := Execute(f, []string{"init", "btc-up", "--pack", "tournament", "--output", "ws"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	ws := filepath.Join(f.WorkDir, "ws", "btc-up")
	for _, want := range []string{"Created workspace " + ws, "pack tournament", "cd " + filepath.Join(ws, "crunch-node-btc-up"), "coordinator dev"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(ws, "crunch-node-btc-up", "config", "scheduled_prediction_configs.json"))
	if err != nil || !strings.Contains(string(b), "out-of-sample-btc") {
		t.Fatalf("schedules: %s %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "go.work")); err != nil || !strings.Contains(string(b), "./.coordinator/sdk") {
		t.Fatalf("go.work: %s %v", b, err)
	}
	// A second init without --force is refused with exit 2; with --force it
	// replaces the workspace.
	f2, _, errOut2 := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": "off"})
	f2.WorkDir = f.WorkDir
	if code := Execute(f2, []string{"init", "btc-up", "--output", "ws"}); code != 2 || !strings.Contains(errOut2.String(), "target already exists") {
		t.Fatalf("exit %d: %s", code, errOut2.String())
	}
	f3, out3, errOut3 := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": "off"})
	f3.WorkDir = f.WorkDir
	if code := Execute(f3, []string{"init", "btc-up", "--output", "ws", "--force"}); code != 0 || !strings.Contains(out3.String(), "Replaced workspace") {
		t.Fatalf("exit %d: %s %s", code, out3.String(), errOut3.String())
	}
}

func TestInitSpecAndAnswersMergeOrder(t *testing.T) {
	f, _, errOut := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": "off"})
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(f.WorkDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("answers.yaml", "name: eth-up\npack: tournament\ncrunch_id: answers-id\ncheckpoint_interval_seconds: 45\n")
	write("spec.json", `{"spec_version": 1, "pack": "realtime", "crunch_id": "spec-id"}`)
	if code := Execute(f, []string{"init", "--answers", "answers.yaml", "--spec", "spec.json", "--pack", "baseline", "--output", "."}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	node := filepath.Join(f.WorkDir, "eth-up", "crunch-node-eth-up")
	env, err := os.ReadFile(filepath.Join(node, ".local.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CRUNCH_ID=spec-id\n", "CHECKPOINT_INTERVAL_SECONDS=45\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf(".local.env lacks %q", want)
		}
	}
	sched, _ := os.ReadFile(filepath.Join(node, "config", "scheduled_prediction_configs.json"))
	if !strings.Contains(string(sched), `"scope_key": "default"`) {
		t.Errorf("--pack baseline did not win over spec and answers: %s", sched)
	}
	spec, _ := os.ReadFile(filepath.Join(f.WorkDir, "eth-up", "spec.json"))
	if !strings.Contains(string(spec), `"pack": "baseline"`) || !strings.Contains(string(spec), `"spec_version": "1"`) {
		t.Errorf("normalised spec.json: %s", spec)
	}
}

func TestInitRejectsWithExit2(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		env   map[string]string
		want  string
	}{
		{"no name", nil, []string{"init"}, nil, "challenge name required"},
		{"bad name", nil, []string{"init", "Btc_Up"}, nil, "<name> argument: name \"Btc_Up\""},
		{"double hyphen", nil, []string{"init", "btc--up"}, nil, "lowercase slug"},
		{"too long", nil, []string{"init", strings.Repeat("x", 41)}, nil, "2 to 40 characters"},
		{"path escape in name", nil, []string{"init", "../../etc"}, nil, "lowercase slug"},
		{"path escape in spec name", map[string]string{"s.json": `{"spec_version":"1","name":"../x"}`}, []string{"init", "--spec", "s.json"}, nil, "--spec"},
		{"unknown pack", nil, []string{"init", "btc-up", "--pack", "nope"}, nil, "--pack: unknown pack \"nope\""},
		{"empty pack", nil, []string{"init", "btc-up", "--pack", ""}, nil, "--pack"},
		{"two names", nil, []string{"init", "a-b", "c-d"}, nil, "accepts at most 1 arg"},
		{"unknown flag", nil, []string{"init", "btc-up", "--nope"}, nil, "unknown flag"},
		{"missing spec", nil, []string{"init", "btc-up", "--spec", "none.json"}, nil, "none.json"},
		{"spec without version", map[string]string{"s.json": `{"name":"btc-up"}`}, []string{"init", "--spec", "s.json"}, nil, "spec_version: required"},
		{"spec bad schedule", map[string]string{"s.json": `{"spec_version":"1","scheduled_prediction_configs":[{"scope_key":"a","schedule":{"every_seconds":"60"}}]}`}, []string{"init", "btc-up", "--spec", "s.json"}, nil, "every_seconds: expected an integer"},
		{"name mismatch", map[string]string{"a.yaml": "name: eth-up\n"}, []string{"init", "btc-up", "--answers", "a.yaml"}, nil, "name mismatch"},
		{"answers not a mapping", map[string]string{"a.yml": "just text\n"}, []string{"init", "btc-up", "--answers", "a.yml"}, nil, "expected a mapping"},
		{"output is a file", map[string]string{"file": "x"}, []string{"init", "btc-up", "--output", "file"}, nil, "--output"},
		{"bad source dir", nil, []string{"init", "btc-up"}, map[string]string{"COORDINATOR_SOURCE_DIR": "/nonexistent"}, "COORDINATOR_SOURCE_DIR=/nonexistent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"COORDINATOR_SOURCE_DIR": "off"}
			for k, v := range c.env {
				env[k] = v
			}
			f, _, errOut := newTestFactory(t, env)
			for name, content := range c.files {
				if err := os.WriteFile(filepath.Join(f.WorkDir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if code := Execute(f, c.args); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("stderr %q lacks %q", errOut.String(), c.want)
			}
			entries, _ := os.ReadDir(f.WorkDir)
			for _, e := range entries {
				if _, isInput := c.files[e.Name()]; !isInput {
					t.Errorf("a rejected init left %s behind", e.Name())
				}
			}
		})
	}
}
