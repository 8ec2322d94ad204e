package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/doctor"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	return addr
}

// runDoctorCLI runs `coordinator doctor --offline args...` from workDir
// and returns the exit code, stdout and stderr. The live feed probe is off:
// test machines have no network (TestDoctorCLIFeedProbe covers it).
func runDoctorCLI(t *testing.T, workDir string, args ...string) (int, string, string) {
	t.Helper()
	return runDoctorCLIEnv(t, workDir, nil, append([]string{"--offline"}, args...)...)
}

func runDoctorCLIEnv(t *testing.T, workDir string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	f, out, errOut := newTestFactory(t, env)
	f.WorkDir = workDir
	code := Execute(f, append([]string{"doctor"}, args...))
	return code, out.String(), errOut.String()
}

// checkJSONMatchesText checks that --json results and text lines agree:
// one line per result, in order, rendered by doctor.Line, and that the
// summary counts them.
func checkJSONMatchesText(t *testing.T, text, js string) []doctor.Result {
	t.Helper()
	var rs []doctor.Result
	if err := json.Unmarshal([]byte(js), &rs); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, js)
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "doctor: workspace ") || !strings.HasPrefix(lines[len(lines)-1], "doctor: ") {
		t.Fatalf("text output lacks header or summary:\n%s", text)
	}
	lines = lines[1 : len(lines)-1]
	if len(lines) != len(rs) {
		t.Fatalf("%d text lines, %d JSON results\n%s\n%s", len(lines), len(rs), text, js)
	}
	fails := 0
	for i, r := range rs {
		if lines[i] != doctor.Line(r) {
			t.Errorf("line %d: %q, JSON result renders as %q", i, lines[i], doctor.Line(r))
		}
		if strings.HasPrefix(lines[i], "[FAIL]") != (r.Status == doctor.Fail) || !strings.Contains(lines[i], r.Check) || !strings.Contains(lines[i], r.Group) {
			t.Errorf("line %d %q does not show %+v", i, lines[i], r)
		}
		if r.Status == doctor.Fail {
			fails++
			if r.Fix == "" || !strings.Contains(lines[i], "fix: "+r.Fix) {
				t.Errorf("failure without its fix on the line: %q", lines[i])
			}
		}
	}
	if !strings.Contains(text, strconv.Itoa(fails)+" failed") {
		t.Errorf("summary does not count %d failures:\n%s", fails, text)
	}
	return rs
}

func TestDoctorCLIGeneratedWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins (slow); run without -short")
	}
	// The SDK copy (not this checkout): builds do not depend on files other
	// work edits while the test runs.
	f, _, errOut := newTestFactory(t, map[string]string{"COORDINATOR_SOURCE_DIR": "off"})
	if code := Execute(f, []string{"init", "btc-up", "--output", "."}); code != 0 {
		t.Fatalf("init exit %d: %s", code, errOut.String())
	}
	ws := filepath.Join(f.WorkDir, "btc-up")
	node := filepath.Join(ws, "crunch-node-btc-up")
	// One model keeps the builds short; a free port for the ports check.
	models := `[{"id":"mean-reversion","path":"../crunch-btc-up/examples/mean_reversion"}]`
	if err := os.WriteFile(filepath.Join(node, config.ModelsFile), []byte(models), 0o644); err != nil {
		t.Fatal(err)
	}
	envPath := filepath.Join(node, config.LocalEnvFile)
	env, _ := os.ReadFile(envPath)
	env = []byte(strings.Replace(string(env), "API_ADDR=127.0.0.1:8000", "API_ADDR="+closedAddr(t), 1))
	if err := os.WriteFile(envPath, env, 0o600); err != nil {
		t.Fatal(err)
	}

	// A migrated store, so that storage passes too.
	if err := os.MkdirAll(layout.Of(node).StateDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := dburl.Open(context.Background(), "sqlite://"+layout.Of(node).Database())
	if err != nil {
		t.Fatal(err)
	}
	err = st.Migrate(context.Background())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	// --workspace may name the workspace folder above the node.
	code, text, stderr := runDoctorCLI(t, f.WorkDir, "--workspace", "btc-up")
	if code != 0 {
		t.Fatalf("healthy workspace: exit %d\n%s%s", code, text, stderr)
	}
	for _, want := range []string{"[pass] plugins    challenge  crunch-btc-up", "[pass] plugins    model mean-reversion", "[pass] storage    schema", "0 failed, 0 warnings", "all checks passed"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Without --workspace, from inside the node: the same results as JSON.
	code, js, _ := runDoctorCLI(t, filepath.Join(node, "config"), "--json")
	if code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	checkJSONMatchesText(t, text, js)

	// A hook routed to the challenge that its Describe does not list.
	cpath := filepath.Join(node, config.CallablesFile)
	b, _ := os.ReadFile(cpath)
	if err := os.WriteFile(cpath, []byte(strings.Replace(string(b), "MODEL_SCORE_AGGREGATOR=default", "MODEL_SCORE_AGGREGATOR=challenge", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, text, _ = runDoctorCLI(t, node)
	if code != 1 || !strings.Contains(text, "[FAIL] plugins    challenge  AggregateModelScores not implemented (config/callables.env MODEL_SCORE_AGGREGATOR=challenge)") {
		t.Fatalf("exit %d, output:\n%s", code, text)
	}
	code, js, _ = runDoctorCLI(t, node, "--json")
	if code != 1 {
		t.Fatalf("--json with a failure: exit %d", code)
	}
	rs := checkJSONMatchesText(t, text, js)
	if !doctor.Failed(rs) {
		t.Fatal("JSON results show no failure")
	}
}

// TestDoctorCLIFeedProbe: without --offline doctor probes the live feed; an
// unreachable Pyth endpoint is a warning naming the URL, not a failure.
func TestDoctorCLIFeedProbe(t *testing.T) {
	closed := "http://" + closedAddr(t)
	node := testnode.WriteNode(t, closedAddr(t), func(f map[string]string) {
		f[config.LocalEnvFile] += "PYTH_HERMES_URL=" + closed + "\nFEED_TIMEOUT_SECONDS=1\n"
	})
	code, text, stderr := runDoctorCLIEnv(t, node, nil, "--skip-plugins")
	if code != 0 || !strings.Contains(text, "[warn] feed       probe pyth") || !strings.Contains(text, strings.TrimPrefix(closed, "http://")) {
		t.Fatalf("exit %d, output:\n%s%s", code, text, stderr)
	}
}

func TestDoctorCLIMiswiring(t *testing.T) {
	emptyDB := filepath.Join(t.TempDir(), "fresh.db")
	if err := os.WriteFile(emptyDB, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dbAddr := closedAddr(t)
	apiAddr := closedAddr(t)
	cases := []struct {
		name   string
		mutate func(map[string]string)
		args   []string
		want   []string // substrings of one [FAIL] line
		absent string
	}{
		{"missing env var", func(f map[string]string) {
			f[config.CallablesFile] = strings.Replace(f[config.CallablesFile], "RAW_INPUT_PROVIDER=default\n", "", 1)
		}, nil, []string{"[FAIL] workspace  variable RAW_INPUT_PROVIDER  missing: set it to \"challenge\"", "fix: edit "}, ""},
		{"malformed interval", func(f map[string]string) {
			f[config.LocalEnvFile] += "CHECKPOINT_INTERVAL_SECONDS=1m\n"
		}, nil, []string{"[FAIL] workspace  variable CHECKPOINT_INTERVAL_SECONDS  expected a whole number of seconds or a count, found \"1m\"", ".local.env"}, ""},
		{"unreachable database", func(f map[string]string) {
			f[config.LocalEnvFile] += "DATABASE_URL=postgres://u:secret@" + dbAddr + "/db?connect_timeout=2\n"
		}, nil, []string{"[FAIL] storage    database", dbAddr, "fix: "}, "secret"},
		{"unmigrated database", func(f map[string]string) {
			f[config.LocalEnvFile] += "DATABASE_URL=sqlite://" + emptyDB + "\n"
		}, nil, []string{"[FAIL] storage    schema  not migrated: schema version 0", "fix: run `coordinator migrate`"}, ""},
		{"API down", nil, []string{"--api", "http://" + apiAddr}, []string{"[FAIL] api        GET /healthz  the node's API does not answer", "fix: start the node"}, ""},
		{"BAD_IMPLEMENTATION in the log", func(f map[string]string) {
			f[filepath.ToSlash(layout.Layout{}.NodeLog())] = `{"@level":"info","@message":"predict cycle done"}` + "\n" +
				`{"@level":"error","@message":"model stopped","model_id":"trend-following","code":"BAD_IMPLEMENTATION"}` + "\n"
		}, nil, []string{"[FAIL] logs       marker BAD_IMPLEMENTATION  model trend-following: ", "(line 2 of the last 2)", "fix: the plugin breaks the contract"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := testnode.WriteNode(t, closedAddr(t), tc.mutate)
			code, text, stderr := runDoctorCLI(t, dir, append([]string{"--skip-plugins"}, tc.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, text, stderr)
			}
			found := false
			for _, l := range strings.Split(text, "\n") {
				ok := true
				for _, w := range tc.want {
					ok = ok && strings.Contains(l, w)
				}
				found = found || ok
			}
			if !found {
				t.Errorf("no line with %q in:\n%s", tc.want, text)
			}
			if tc.absent != "" && strings.Contains(text, tc.absent) {
				t.Errorf("output contains %q:\n%s", tc.absent, text)
			}
			_, js, _ := runDoctorCLI(t, dir, append([]string{"--skip-plugins", "--json"}, tc.args...)...)
			checkJSONMatchesText(t, text, js)
		})
	}
}

func TestDoctorCLIUsageAndSpec(t *testing.T) {
	empty := t.TempDir()
	spec := filepath.Join(empty, "spec.json")
	if err := os.WriteFile(spec, []byte(`{"spec_version":"1","name":"btc-up","pack":"baseline"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badSpec := filepath.Join(empty, "bad.json")
	if err := os.WriteFile(badSpec, []byte(`{"spec_version":"1","name":"btc-up","callables":{"SCORING_FUNCTION":"default"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"--frobnicate"}, 2, "unknown flag"},
		{"positional argument", []string{"extra"}, 2, "unknown command"},
		{"no workspace here", nil, 2, "no node workspace found"},
		{"missing --workspace", []string{"--workspace", "nowhere"}, 2, "no node workspace found"},
		{"empty --pack", []string{"--pack", ""}, 2, "--pack: expected a pack id"},
		{"bad --api", []string{"--api", "localhost:8000", "--spec", "spec.json"}, 2, "--api: expected an http(s) URL"},
		{"spec only, valid", []string{"--spec", "spec.json"}, 0, "[pass] spec       scheduled_prediction_configs"},
		{"spec only, invalid callables", []string{"--spec", "bad.json"}, 1, "[FAIL] spec       callables  callables: SCORING_FUNCTION: ScorePredictions has no coordinator default"},
		{"unknown pack", []string{"--pack", "nope"}, 1, `[FAIL] spec       pack  unknown pack "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runDoctorCLI(t, empty, tc.args...)
			if code != tc.code || !strings.Contains(out+stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, stderr)
			}
		})
	}
}

// A model id that could escape the state directory makes doctor refuse
// with exit 2 (as dev and serve do), naming the entry.
func TestDoctorCLIUnsafeModelID(t *testing.T) {
	dir := testnode.WriteNode(t, closedAddr(t), func(f map[string]string) {
		f[config.ModelsFile] = `[{"id":"../../../../tmp/x","path":"../crunch-x/examples/m1"}]`
	})
	code, text, stderr := runDoctorCLI(t, dir, "--skip-plugins")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, text, stderr)
	}
	if !strings.Contains(text, `models[0].id "../../../../tmp/x"`) || !strings.Contains(text, "rename the entry to a slug") {
		t.Errorf("output does not name the entry and the fix:\n%s", text)
	}
}
