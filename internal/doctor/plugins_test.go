package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

// The generated workspace is created and its plugins built once per test
// binary (builds are the slow part) and shared by the plugin tests, which
// therefore run one after another: each rewrites config/callables.env and
// config/models.json and restores them. Config files are not part of the
// build fingerprint, so switching them never forces a rebuild.
var (
	genOnce sync.Once
	genWS   scaffold.Result
	genErr  error
	genRoot string
	genMu   sync.Mutex // serialises the tests that rewrite the shared config
)

func TestMain(m *testing.M) {
	code := m.Run()
	if genRoot != "" {
		os.RemoveAll(genRoot)
	}
	os.Exit(code)
}

// generated returns the shared workspace: `coordinator init btc-up` with
// go.work using the SDK copy, the broken test plugins of
// testdata/plugins copied into crunch-btc-up/broken/, .local.env's API_ADDR
// on a free port and the SQLite store migrated.
func generated(t *testing.T) scaffold.Result {
	t.Helper()
	genOnce.Do(func() {
		genRoot, genErr = os.MkdirTemp("", "doctor-test-")
		if genErr != nil {
			return
		}
		ctx := context.Background()
		// go.work uses the SDK copy init writes (the sdk/ and proto/ of
		// this checkout, embedded in the test binary), not the checkout
		// itself: the plugin build fingerprint then does not change when
		// files of the checkout are edited while the tests run.
		genWS, genErr = scaffold.Init(ctx, scaffold.Options{Request: scaffold.Request{Name: "btc-up"}, OutputDir: genRoot,
			SDK: scaffold.SDKSource{Version: "test"}})
		if genErr != nil {
			return
		}
		plugins, _ := filepath.Glob(filepath.Join("testdata", "plugins", "*", "main.go"))
		for _, p := range plugins {
			name := filepath.Base(filepath.Dir(p))
			dst := filepath.Join(genWS.ChallengeDir, "broken", name, "main.go")
			b, err := os.ReadFile(p)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(dst), 0o755)
			}
			if err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
			if err != nil {
				genErr = err
				return
			}
		}
		envPath := filepath.Join(genWS.NodeDir, config.LocalEnvFile)
		env, err := os.ReadFile(envPath)
		if err != nil {
			genErr = err
			return
		}
		env = []byte(strings.Replace(string(env), "API_ADDR=127.0.0.1:8000", "API_ADDR="+testutil.FreeAddr(t), 1))
		if genErr = os.WriteFile(envPath, env, 0o600); genErr != nil {
			return
		}
		if genErr = os.MkdirAll(layout.Of(genWS.NodeDir).StateDir(), 0o755); genErr != nil {
			return
		}
		st, err := dburl.Open(ctx, "sqlite://"+layout.Of(genWS.NodeDir).Database())
		if err != nil {
			genErr = err
			return
		}
		defer st.Close()
		genErr = st.Migrate(ctx)
	})
	if genErr != nil {
		t.Fatalf("generate the test workspace: %v", genErr)
	}
	return genWS
}

// withConfig rewrites the shared workspace's callables.env (edit maps a
// variable to its new value) and models.json (when models is not empty)
// for the duration of the test.
func withConfig(t *testing.T, ws scaffold.Result, edit map[string]string, models string) {
	t.Helper()
	genMu.Lock()
	t.Cleanup(genMu.Unlock)
	for _, f := range []string{config.CallablesFile, config.ModelsFile} {
		p := filepath.Join(ws.NodeDir, f)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.WriteFile(p, orig, 0o644); err != nil {
				t.Error(err)
			}
		})
		body := string(orig)
		if f == config.CallablesFile {
			lines := strings.Split(body, "\n")
			for i, l := range lines {
				k, _, ok := strings.Cut(l, "=")
				if v, edited := edit[k]; ok && edited {
					lines[i] = k + "=" + v
				}
			}
			body = strings.Join(lines, "\n")
		} else if models != "" {
			body = models
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runDoctor(t *testing.T, ws scaffold.Result) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return Run(ctx, Options{NodeDir: ws.NodeDir, Probe: Prober{Host: host.Options{StartTimeout: 20 * time.Second}},
		SpecCheck: CheckSpec, Pack: "baseline"})
}

func TestDoctorHealthyGeneratedWorkspace(t *testing.T) {
	ws := generated(t)
	withConfig(t, ws, nil, "")
	rs := runDoctor(t, ws)
	for _, r := range rs {
		if r.Status == Fail || r.Status == Warn {
			t.Errorf("healthy workspace: %s", Line(r))
		}
	}
	for _, want := range []struct{ group, check, msg string }{
		{"spec", "pack", "baseline known"},
		{"workspace", "configuration", "8 models"}, // 4 Go examples and their Python twins
		{"plugins", "python", "with grpcio"},
		{"plugins", "model py-mean-reversion", "pass the validator"},
		{"plugins", "challenge", "handshake ok, contract 1"},
		{"plugins", "challenge callables", "all 6 hooks routed to the challenge"},
		{"plugins", "model mean-reversion", "implements Tick, Predict"},
		{"plugins", "model trend-following", "implements Tick, Predict"},
		{"plugins", "model volatility-regime", "implements Tick, Predict"},
		{"storage", "schema", "up to date"},
		{"ports", "port ", "free"},
	} {
		found := false
		for _, r := range rs {
			if r.Status == Pass && r.Group == want.group && strings.HasPrefix(r.Check, want.check) && strings.Contains(r.Message, want.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no passing %s/%s result with %q", want.group, want.check, want.msg)
		}
	}
	if t.Failed() {
		for _, r := range rs {
			t.Log(Line(r))
		}
	}
}

func TestDoctorPluginMiswiring(t *testing.T) {
	ws := generated(t)
	oneModel := `[{"id":"mean-reversion","path":"../crunch-btc-up/examples/mean_reversion"}]`
	model := func(id, dir string) string {
		return `[{"id":"` + id + `","path":"../crunch-btc-up/broken/` + dir + `"}]`
	}
	cases := []struct {
		name   string
		edit   map[string]string
		models string
		check  string
		want   []string // substrings of one failing result's message
		where  string   // substring of its Where
		also   []string // further failing messages expected
	}{
		{
			name: "hook routed to the challenge but not implemented", edit: map[string]string{"MODEL_SCORE_AGGREGATOR": "challenge"}, models: oneModel,
			check: "challenge", want: []string{"AggregateModelScores not implemented (config/callables.env MODEL_SCORE_AGGREGATOR=challenge)"},
			where: "MODEL_SCORE_AGGREGATOR",
		},
		{
			name: "model missing Predict", models: model("nopredict", "nopredict"),
			check: "model nopredict", want: []string{"Predict not implemented; Describe lists Tick"},
			where: "broken/nopredict",
		},
		{
			name: "model with a wrong magic cookie", models: model("cookie", "wrongcookie"),
			check: "model cookie", want: []string{"handshake failed", "magic cookie COORDINATOR_PLUGIN", "This binary is a plugin"},
			where: ".coordinator/bin/models/cookie",
		},
		{
			name: "model that panics at start", models: model("panicky", "panicmodel"),
			check: "model panicky", want: []string{"crashed at start, before the handshake (CRASHED, exit status 2)", "stderr: panic: model weights not loaded: lookback is 0"},
			where: ".coordinator/bin/models/panicky",
		},
		{
			name: "model path missing", models: model("gone", "nothing-here"),
			check: "model gone", want: []string{`config/models.json models[0].path "../crunch-btc-up/broken/nothing-here" points at a missing directory`},
			where: "models.json models[0]",
		},
		{
			name: "callable points at a missing plugin", edit: map[string]string{"CHALLENGE_PLUGIN": "../crunch-btc-up/cmd/missing"}, models: oneModel,
			check: "challenge", want: []string{"config/callables.env CHALLENGE_PLUGIN=../crunch-btc-up/cmd/missing points at a missing directory"},
			where: "callables.env CHALLENGE_PLUGIN",
		},
		{
			name: "challenge missing a required RPC", edit: map[string]string{"CHALLENGE_PLUGIN": "../crunch-btc-up/broken/noscore"}, models: oneModel,
			check: "challenge", want: []string{"ScorePredictions not implemented (config/callables.env SCORING_FUNCTION=challenge)", "Describe lists BuildInferenceInput"},
			where: "SCORING_FUNCTION",
			also: []string{
				"ValidateInferenceOutput not implemented (config/callables.env INFERENCE_OUTPUT_VALIDATOR=challenge)",
				"ReportSchema not implemented (config/callables.env REPORT_SCHEMA_PROVIDER=challenge)",
				"ResolveGroundTruth not implemented (config/callables.env GROUND_TRUTH_RESOLVER=challenge)",
			},
		},
		{
			name: "wrong contract version", edit: map[string]string{"CHALLENGE_PLUGIN": "../crunch-btc-up/broken/wrongversion"}, models: oneModel,
			check: "challenge", want: []string{`contract version "999"`, `this host speaks "1"`},
			where: ".coordinator/bin/challenge",
		},
	}
	// Cases that use the generated challenge plugin come first: switching
	// CHALLENGE_PLUGIN rebuilds .coordinator/bin/challenge.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withConfig(t, ws, tc.edit, tc.models)
			rs := runDoctor(t, ws)
			if !Failed(rs) {
				t.Fatalf("no failure reported")
			}
			var hit *Result
			for i, r := range rs {
				if r.Status != Fail || r.Group != "plugins" || r.Check != tc.check {
					continue
				}
				ok := true
				for _, w := range tc.want {
					ok = ok && strings.Contains(r.Message, w)
				}
				if ok {
					hit = &rs[i]
				}
			}
			if hit == nil {
				for _, r := range rs {
					t.Log(Line(r))
				}
				t.Fatalf("no failing %q result with %q", tc.check, tc.want)
			}
			if !strings.Contains(hit.Where, tc.where) || hit.Fix == "" {
				t.Errorf("where %q (want %q), fix %q", hit.Where, tc.where, hit.Fix)
			}
			for _, a := range tc.also {
				if r := find(rs, Fail, a); r == nil || r.Fix == "" {
					t.Errorf("no failure with a fix for %q", a)
				}
			}
			// The other checks still ran and passed.
			if r := find(rs, Pass, "up to date"); r == nil {
				t.Errorf("storage check missing after the plugin failure")
			}
		})
	}
}

func TestDoctorUnmigratedDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "fresh.db")
	if err := os.WriteFile(db, nil, 0o644); err != nil { // an empty SQLite database
		t.Fatal(err)
	}
	dir := testnode.WriteNode(t, "127.0.0.1:0", func(f map[string]string) { f[config.LocalEnvFile] = "DATABASE_URL=sqlite://" + db + "\n" })
	rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true, APIURL: "http://" + testutil.FreeAddr(t)})
	r := find(rs, Fail, "not migrated")
	if r == nil || r.Group != "storage" || !strings.Contains(r.Fix, "coordinator migrate") || r.Where != "sqlite://"+db {
		t.Fatalf("want an unmigrated-storage failure naming the file, got %+v", rs)
	}
	if find(rs, Pass, "sqlite reachable") == nil {
		t.Errorf("database reachability should pass: %+v", rs)
	}
}

func TestDoctorSpecCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, strconv.Itoa(len(body))+".json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write(`{"spec_version":"1","name":"btc-up","pack":"baseline","callables":{"MODEL_SCORE_AGGREGATOR":"default"}}`)
	rs := CheckSpec(good, "")
	if Failed(rs) || len(rs) != len(specFields) {
		t.Fatalf("valid spec: %+v", rs)
	}
	if r := find(rs, Pass, "6 hooks routed to the challenge"); r == nil || r.Check != "callables" {
		t.Errorf("callables summary missing: %+v", rs)
	}

	bad := write(`{"spec_version":"2","name":"BTC UP","pack":"nope","colour":"red",` +
		`"callables":{"SCORING_FUNCTION":"default"},"scheduled_prediction_configs":[{"scope_key":"x","schedule":{"every_seconds":-5}}]}`)
	rs = CheckSpec(bad, "")
	want := map[string]string{
		"key colour":                   `unknown key "colour"`,
		"spec_version":                 `expected "1", found "2"`,
		"name":                         `name "BTC UP"`,
		"pack":                         `unknown pack "nope"`,
		"callables":                    "SCORING_FUNCTION",
		"scheduled_prediction_configs": "scheduled_prediction_configs",
	}
	for check, msg := range want {
		var r *Result
		for i := range rs {
			if rs[i].Check == check {
				r = &rs[i]
			}
		}
		if r == nil || r.Status != Fail || !strings.Contains(r.Message, msg) || r.Fix == "" || !strings.HasPrefix(r.Where, bad) {
			t.Errorf("%s: want a failure with %q naming %s, got %+v", check, msg, bad, r)
		}
	}
	if r := find(rs, Pass, "crunch_id"); r == nil {
		t.Errorf("crunch_id should still be checked and pass: %+v", rs)
	}

	rs = CheckSpec(good, "missing-pack")
	if r := find(rs, Fail, `unknown pack "missing-pack"`); r == nil || r.Where != "--pack" {
		t.Errorf("--pack override not checked: %+v", rs)
	}
	if rs := CheckSpec("", "realtime"); len(rs) != 1 || rs[0].Status != Pass {
		t.Errorf("pack only: %+v", rs)
	}
	if rs := CheckSpec(filepath.Join(dir, "absent.json"), ""); !Failed(rs) || rs[0].Check != "spec file" {
		t.Errorf("missing spec file: %+v", rs)
	}
}

func TestDoctorLineFormat(t *testing.T) {
	r := Result{Group: "plugins", Check: "challenge", Status: Fail, Message: "ScorePredictions not implemented\n(second line)",
		Where: "config/callables.env SCORING_FUNCTION", Fix: "implement it"}
	got := Line(r)
	want := "[FAIL] plugins    challenge  ScorePredictions not implemented | (second line)  at config/callables.env SCORING_FUNCTION  fix: implement it"
	if got != want {
		t.Errorf("Line:\n got %q\nwant %q", got, want)
	}
	if got := Line(Result{Group: "workspace", Check: "file config/callables.env", Status: Pass, Message: "present", Where: "/x"}); got != "[pass] workspace  file config/callables.env  present" {
		t.Errorf("pass line %q", got)
	}
	if s := Summary([]Result{{Status: Pass}, {Status: Warn}, {Status: Fail}}); !strings.HasPrefix(s, "doctor: 1 passed, 1 failed, 1 warning, 0 skipped; FAILED") {
		t.Errorf("summary %q", s)
	}
}

// TestDoctorBrokenPythonModels: doctor names a broken Python model's file
// and error (import error with the traceback's last lines, no subclass, an
// output the validator rejects), and passes a model in the reference's
// TrackerBase style that overrides tick itself.
func TestDoctorBrokenPythonModels(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python models")
	}
	ws := generated(t)
	models := map[string]string{
		"py-import":    "from tracker import TrackerBase\nimport not_a_real_package\n",
		"py-none":      "class Helper:\n    pass\n",
		"py-invalid":   "from tracker import TrackerBase\n\nclass M(TrackerBase):\n    def predict(self, asset, horizon, step):\n        return {\"p_up\": \"high\"}\n",
		"py-reference": "from tracker import TrackerBase\n\nclass MyTracker(TrackerBase):\n    def __init__(self):\n        self.prices = []\n\n    def tick(self, data):\n        self.prices = [c[\"close\"] for c in data[\"candles\"]]\n\n    def predict(self, asset: str, horizon: int, step: int):\n        return {\"p_up\": 0.6 if self.prices[-1] > self.prices[0] else 0.4}\n",
	}
	var entries []string
	for id, src := range models {
		dir := filepath.Join(ws.ChallengeDir, "python", "broken", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.py"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		entries = append(entries, fmt.Sprintf(`{"id": %q, "path": "../crunch-btc-up/python/broken/%s", "runtime": "python"}`, id, id))
	}
	withConfig(t, ws, nil, "["+strings.Join(entries, ",")+"]")
	rs := runDoctor(t, ws)
	find := func(check string) Result {
		for _, r := range rs {
			if r.Check == check && r.Status != Pass {
				return r
			}
		}
		for _, r := range rs {
			if r.Check == check {
				return r
			}
		}
		t.Fatalf("no result for %s", check)
		return Result{}
	}
	for _, c := range []struct {
		check, status string
		want          []string
	}{
		{"model py-import", Fail, []string{"model.py", "ModuleNotFoundError", "not_a_real_package"}},
		{"model py-none", Fail, []string{"no subclass of tracker.TrackerBase"}},
		{"model py-invalid", Fail, []string{"validator rejects", `"high"`}},
		{"model py-reference", Pass, []string{"pass the validator"}},
	} {
		r := find(c.check)
		if r.Status != c.status {
			t.Errorf("%s: %s, want %s: %s", c.check, r.Status, c.status, Line(r))
		}
		for _, w := range c.want {
			if !strings.Contains(r.Message, w) {
				t.Errorf("%s: message lacks %q: %s", c.check, w, Line(r))
			}
		}
	}
}
