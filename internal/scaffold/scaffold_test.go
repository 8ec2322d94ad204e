package scaffold

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
	"github.com/crunch-coordinator/coordinator/packs"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func builtin(t *testing.T) []packs.Pack {
	t.Helper()
	list, err := packs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestValidateName(t *testing.T) {
	good := []string{"btc-up", "ab", "a1", "9lives", "x-y-z", strings.Repeat("a", 40)}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	bad := map[string]string{
		"":                      "challenge name required",
		"a":                     "2 to 40 characters",
		strings.Repeat("a", 41): "2 to 40 characters",
		"BTC":                   "lowercase slug",
		"-btc":                  "lowercase slug",
		"btc-":                  "lowercase slug",
		"btc--up":               "lowercase slug",
		"btc_up":                "lowercase slug",
		"../x":                  "lowercase slug",
		"a/b":                   "lowercase slug",
		"a b":                   "lowercase slug",
		"é-up":                  "lowercase slug",
	}
	for n, want := range bad {
		if err := ValidateName(n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateName(%q) = %v, want an error containing %q", n, err, want)
		}
	}
}

func TestPackageName(t *testing.T) {
	cases := map[string]string{"btc-up": "btcup", "9lives": "crunch9lives", "go": "crunchgo", "func": "crunchfunc", "sdk": "crunchsdk", "int": "crunchint", "eth-2": "eth2"}
	for slug, want := range cases {
		if got := PackageName(slug); got != want {
			t.Errorf("PackageName(%q) = %q, want %q", slug, got, want)
		}
	}
}

func TestResolveMergeOrder(t *testing.T) {
	dir := t.TempDir()
	answers := writeFile(t, dir, "answers.yaml", "name: btc-up\npack: realtime\ncrunch_id: from-answers\ncheckpoint_interval_seconds: 30\nspec_version: 1\n")
	spec := writeFile(t, dir, "spec.json", `{"crunch_id":"from-spec","callables":{"LEADERBOARD_RANKER":"challenge"}}`)

	cfg, err := Resolve(Request{AnswersPath: answers}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "btc-up" || cfg.Pack.ID != "realtime" || cfg.CrunchID != "from-answers" || cfg.CheckpointIntervalSeconds != 30 || cfg.Spec != nil {
		t.Fatalf("answers only: %+v", cfg)
	}
	// spec overrides answers; the answers' spec_version satisfies --spec.
	cfg, err = Resolve(Request{AnswersPath: answers, SpecPath: spec}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CrunchID != "from-spec" || cfg.Pack.ID != "realtime" || cfg.CheckpointIntervalSeconds != 30 || cfg.Callables["LEADERBOARD_RANKER"] != "challenge" || cfg.Callables["SCORING_FUNCTION"] != "challenge" {
		t.Fatalf("answers < spec: %+v", cfg)
	}
	if string(cfg.Spec["pack"]) != `"realtime"` || string(cfg.Spec["spec_version"]) != `"1"` {
		t.Fatalf("normalised spec: %s %s", cfg.Spec["pack"], cfg.Spec["spec_version"])
	}
	// flags override both.
	cfg, err = Resolve(Request{Name: "btc-up", Pack: "tournament", AnswersPath: answers, SpecPath: spec}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pack.ID != "tournament" || len(cfg.Rows) != 2 || cfg.CheckpointIntervalSeconds != 30 {
		t.Fatalf("flags: pack %s, %d rows, checkpoint %d", cfg.Pack.ID, len(cfg.Rows), cfg.CheckpointIntervalSeconds)
	}
	// defaults: pack values, crunch id = name.
	cfg, err = Resolve(Request{Name: "eth-up"}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pack.ID != "baseline" || cfg.CrunchID != "eth-up" || cfg.CheckpointIntervalSeconds != 60 || len(cfg.Rows) != 1 || cfg.Rows[0].Schedule.ResolveAfterSeconds != 60 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestResolveRejects(t *testing.T) {
	dir := t.TempDir()
	w := func(name, content string) string { return writeFile(t, dir, name, content) }
	okSpec := func(extra string) string {
		return w("spec-"+strings.NewReplacer(`"`, "", ":", "", "{", "", "}", "", ",", "", " ", "", "[", "", "]", "").Replace(extra)+".json", `{"spec_version":"1"`+extra+`}`)
	}
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"no name", Request{}, "challenge name required"},
		{"bad positional", Request{Name: "Bad"}, "<name> argument: name \"Bad\""},
		{"escaping positional", Request{Name: "../evil"}, "lowercase slug"},
		{"escaping spec name", Request{SpecPath: okSpec(`,"name":"../../evil"`)}, "name \"../../evil\""},
		{"name mismatch", Request{Name: "btc-up", SpecPath: okSpec(`,"name":"eth-up"`)}, "name mismatch"},
		{"missing spec file", Request{Name: "btc-up", SpecPath: filepath.Join(dir, "nope.json")}, "--spec " + filepath.Join(dir, "nope.json")},
		{"spec not an object", Request{Name: "btc-up", SpecPath: w("arr.json", `[1]`)}, "expected a JSON object"},
		{"spec without version", Request{Name: "btc-up", SpecPath: w("nover.json", `{}`)}, "spec_version: required"},
		{"spec wrong version", Request{Name: "btc-up", SpecPath: w("v2.json", `{"spec_version":"2"}`)}, "spec_version: expected \"1\""},
		{"unknown key", Request{Name: "btc-up", SpecPath: okSpec(`,"model_base_classname":"x"`)}, "unknown key \"model_base_classname\""},
		{"unknown pack flag", Request{Name: "btc-up", Pack: "nope"}, "--pack: unknown pack \"nope\" (allowed packs: baseline, realtime, tournament)"},
		{"unknown pack in spec", Request{Name: "btc-up", SpecPath: okSpec(`,"pack":"nope"`)}, "unknown pack \"nope\""},
		{"bad crunch id", Request{Name: "btc-up", SpecPath: okSpec(`,"crunch_id":"a b\nX=1"`)}, "crunch_id: expected"},
		{"bad checkpoint", Request{Name: "btc-up", SpecPath: okSpec(`,"checkpoint_interval_seconds":0`)}, "checkpoint_interval_seconds: expected an integer > 0"},
		{"float checkpoint", Request{Name: "btc-up", SpecPath: okSpec(`,"checkpoint_interval_seconds":1.5`)}, "checkpoint_interval_seconds"},
		{"unknown hook", Request{Name: "btc-up", SpecPath: okSpec(`,"callables":{"NOPE":"default"}`)}, "unknown callable key \"NOPE\""},
		{"bad wiring", Request{Name: "btc-up", SpecPath: okSpec(`,"callables":{"LEADERBOARD_RANKER":"mod:fn"}`)}, "expected \"challenge\" or \"default\""},
		{"required hook defaulted", Request{Name: "btc-up", SpecPath: okSpec(`,"callables":{"SCORING_FUNCTION":"default"}`)}, "has no coordinator default"},
		{"empty schedules", Request{Name: "btc-up", SpecPath: okSpec(`,"scheduled_prediction_configs":[]`)}, "scheduled_prediction_configs: expected at least one"},
		{"schedule unknown key", Request{Name: "btc-up", SpecPath: okSpec(`,"scheduled_prediction_configs":[{"scope_key":"a","schedule":{"every_seconds":60,"cron":"x"}}]`)}, "unknown key \"cron\""},
		{"schedule zero horizon", Request{Name: "btc-up", SpecPath: okSpec(`,"scheduled_prediction_configs":[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":0}}]`)}, "horizon >= 1"},
		{"answers bad yaml", Request{Name: "btc-up", AnswersPath: w("bad.yaml", "name: [unclosed\n")}, "--answers " + filepath.Join(dir, "bad.yaml") + ": expected YAML"},
		{"answers yaml list root", Request{Name: "btc-up", AnswersPath: w("list.yml", "- a\n- b\n")}, "expected a mapping at the root"},
		{"answers bad json", Request{Name: "btc-up", AnswersPath: w("bad.JSON", "{")}, "expected a JSON object"},
		{"answers unknown key", Request{Name: "btc-up", AnswersPath: w("unk.yaml", "colour: blue\n")}, "--answers " + filepath.Join(dir, "unk.yaml") + ": unknown key \"colour\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Resolve(c.req, builtin(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !IsInputError(err) {
				t.Fatalf("err %v is not an InputError", err)
			}
		})
	}
}

func TestAnswersEmptyAndJSON(t *testing.T) {
	dir := t.TempDir()
	if m, err := LoadAnswersFile(writeFile(t, dir, "empty.yaml", "  \n")); err != nil || len(m) != 0 {
		t.Fatalf("empty answers: %v %v", m, err)
	}
	cfg, err := Resolve(Request{AnswersPath: writeFile(t, dir, "a.json", `{"name":"eth-up","scheduled_prediction_configs":[{"scope_key":"k","scope_template":{"asset":"ETH","horizon_seconds":120},"schedule":{"every_seconds":30}}]}`)}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "eth-up" || len(cfg.Rows) != 1 || cfg.Rows[0].Schedule.ResolveAfterSeconds != 120 {
		t.Fatalf("json answers: %+v", cfg)
	}
}

func TestBuiltinPacks(t *testing.T) {
	list := builtin(t)
	want := map[string]struct {
		checkpoint int
		rows       []string
	}{
		"baseline":   {60, []string{"default"}},
		"realtime":   {15, []string{"realtime-btc"}},
		"tournament": {60, []string{"in-sample-btc", "out-of-sample-btc"}},
	}
	if len(list) != len(want) {
		t.Fatalf("%d packs, want %d", len(list), len(want))
	}
	for _, p := range list {
		w := want[p.ID]
		rows, err := schedule.Parse(p.ScheduledPredictionConfigs)
		if err != nil {
			t.Fatal(err)
		}
		if p.CheckpointIntervalSeconds != w.checkpoint || len(rows) != len(w.rows) {
			t.Fatalf("pack %s: %+v", p.ID, p)
		}
		for i, r := range rows {
			var tpl struct {
				Horizon int `json:"horizon_seconds"`
			}
			_ = json.Unmarshal(r.ScopeTemplate, &tpl)
			if r.ScopeKey != w.rows[i] || r.Schedule.ResolveAfterSeconds != tpl.Horizon {
				t.Fatalf("pack %s row %d: %+v (resolve_after_seconds must equal horizon_seconds)", p.ID, i, r)
			}
		}
	}
}

func TestPackParseRejects(t *testing.T) {
	base := `"id":"p","callables":{"INFERENCE_INPUT_BUILDER":"challenge","INFERENCE_OUTPUT_VALIDATOR":"challenge","SCORING_FUNCTION":"challenge","MODEL_SCORE_AGGREGATOR":"default","REPORT_SCHEMA_PROVIDER":"challenge","LEADERBOARD_RANKER":"default","RAW_INPUT_PROVIDER":"challenge","GROUND_TRUTH_RESOLVER":"challenge","PREDICTION_SCOPE_BUILDER":"default","PREDICT_CALL_BUILDER":"default"}`
	sched := `"scheduled_prediction_configs":[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`
	if _, err := packs.Parse("p", []byte("{"+base+","+sched+"}")); err != nil {
		t.Fatalf("valid pack rejected: %v", err)
	}
	cases := map[string]string{
		`{` + base + `}`: "scheduled_prediction_configs: required",
		`{"id":"q",` + base[9:] + `,` + sched + `}`:                                                             "id: expected the folder name",
		`{` + base + `,` + sched + `,"extra":1}`:                                                                "unknown key \"extra\"",
		`{` + strings.Replace(base, `"PREDICT_CALL_BUILDER":"default"`, `"X":"default"`, 1) + `,` + sched + `}`: "missing required key PREDICT_CALL_BUILDER",
		`{` + base + `,"checkpoint_interval_seconds":-1,` + sched + `}`:                                         "checkpoint_interval_seconds",
	}
	for in, want := range cases {
		if _, err := packs.Parse("p", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", in, err, want)
		}
	}
}

// testPackFS is a one-pack tree whose template set holds extra templates.
func testPackFS(extra map[string]string) fstest.MapFS {
	b, _ := os.ReadFile("../../packs/baseline/pack.json")
	fsys := fstest.MapFS{"baseline/pack.json": {Data: b}}
	fsys["templates/default/challenge/README.md.tmpl"] = &fstest.MapFile{Data: []byte("# [[.ChallengeModule]]\n")}
	for k, v := range extra {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

func TestRenderRefusesEscapingTemplatePaths(t *testing.T) {
	cfg, err := Resolve(Request{Name: "btc-up"}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		`templates/default/workspace/[[ printf "%c%c" 46 46 ]]/escape.txt.tmpl`:            "must stay inside the workspace",
		`templates/default/challenge/[[ printf "%c%c/%c%c" 46 46 46 46 ]]/escape.txt.tmpl`: "must stay inside the workspace",
		`templates/default/workspace/[[ printf "%c" 47 ]]etc/passwd.tmpl`:                  "must stay inside the workspace",
		`templates/default/elsewhere/x.tmpl`:                                               "unknown scope",
		`templates/default/x.tmpl`:                                                         "expected <scope>/<file>",
		`templates/default/workspace/bad.go.tmpl`:                                          "does not parse",
		`templates/default/workspace/missing.txt.tmpl`:                                     "NoSuchField",
	}
	for name, want := range cases {
		content := "package x\n"
		if strings.HasSuffix(name, "bad.go.tmpl") {
			content = "package [[.PackageName]]\nfunc {\n"
		}
		if strings.HasSuffix(name, "missing.txt.tmpl") {
			content = "[[.NoSuchField]]"
		}
		_, err := Render(cfg, testPackFS(map[string]string{name: content}), SDKSource{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("template %s: err = %v, want %q", name, err, want)
		}
	}
}

func TestGeneratedFiles(t *testing.T) {
	cfg, err := Resolve(Request{Name: "btc-up", Pack: "tournament"}, builtin(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(cfg, nil, SDKSource{Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	node := "crunch-node-btc-up/"
	if string(files[node+".local.env"]) != string(files[node+".local.env.example"]) {
		t.Fatal(".local.env and .local.env.example differ at init")
	}
	env := string(files[node+".local.env"])
	for _, want := range []string{"\nCRUNCH_ID=btc-up\n", "\nCHECKPOINT_INTERVAL_SECONDS=60\n", "\nDATABASE_URL=\n", "\nAPI_ADDR=127.0.0.1:8000\n", "\nFEED_STALE_AFTER_SECONDS=120\n"} {
		if !strings.Contains(env, want) {
			t.Errorf(".local.env lacks %q", want)
		}
	}
	// Every variable the generated .local.env sets, or shows commented out,
	// is a registered setting: a fresh workspace passes the unknown-key check.
	for _, line := range strings.Split(env, "\n") {
		if k, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "), "="); ok && k == strings.ToUpper(k) && !strings.Contains(k, " ") {
			if !config.IsKnownVar(k) {
				t.Errorf(".local.env sets %s, which is not in config.Known", k)
			}
		}
	}
	var keys []string
	for _, line := range strings.Split(string(files[node+"config/callables.env"]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys = append(keys, k)
			if k == "CHALLENGE_PLUGIN" && v != "../crunch-btc-up/cmd/challenge" {
				t.Errorf("CHALLENGE_PLUGIN=%s", v)
			}
		}
	}
	wantKeys := []string{"CHALLENGE_PLUGIN"}
	for _, h := range packs.Hooks {
		wantKeys = append(wantKeys, h.EnvVar)
	}
	wantKeys = append(wantKeys, "MODEL_BASE_CLASSNAME", "MODEL_BASE_PATH")
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("callables.env keys %v, want %v", keys, wantKeys)
	}
	if !strings.Contains(string(files[node+"config/callables.env"]), "TODO(btc-up)") {
		t.Error("callables.env has no TODO comments")
	}
	rows, err := schedule.Parse(files[node+"config/scheduled_prediction_configs.json"])
	if err != nil || len(rows) != 2 {
		t.Fatalf("schedules: %v %v", rows, err)
	}
	var models []ModelEntry
	if err := json.Unmarshal(files[node+"config/models.json"], &models); err != nil || len(models) != 8 || models[0].Path != "../crunch-btc-up/examples/constant" || models[3].Runtime != "" || models[4].Runtime != "python" {
		t.Fatalf("models.json: %+v %v", models, err)
	}
	if got := string(files[SDKCopyDir+"/COORDINATOR_VERSION"]); got != "v1.2.3\n" {
		t.Errorf("COORDINATOR_VERSION = %q", got)
	}
	for rel := range files {
		if strings.HasSuffix(rel, "_test.go") && strings.HasPrefix(rel, SDKCopyDir) {
			t.Errorf("SDK copy holds a test file %s", rel)
		}
	}
	compose := string(files[node+"deployment/docker-compose.yml"])
	for _, want := range []string{`"127.0.0.1:${POSTGRES_HOST_PORT:-5432}:5432"`, "${POSTGRES_PASSWORD:?", `command: ["serve", "all"]`, "DATABASE_URL:", "coordinator:v1.2.3"} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
	if strings.Contains(compose, "POSTGRES_PASSWORD: postgres") || strings.Contains(compose, `- "5432:5432"`) {
		t.Error("docker-compose.yml publishes a default password or an open port")
	}
}

func TestInitForce(t *testing.T) {
	out := t.TempDir()
	ctx := context.Background()
	opts := Options{Request: Request{Name: "btc-up"}, OutputDir: out}
	if _, err := Init(ctx, opts); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(out, "btc-up", "crunch-node-btc-up", "my-notes.txt")
	writeFile(t, filepath.Dir(marker), "my-notes.txt", "keep me")

	// Without --force: refused, untouched.
	_, err := Init(ctx, opts)
	if err == nil || !IsInputError(err) || !strings.Contains(err.Error(), "target already exists") {
		t.Fatalf("second init: %v", err)
	}
	// --force with a failing render: the old target is intact, no leftovers.
	broken := testPackFS(map[string]string{"templates/default/workspace/x.txt.tmpl": "[[.NoSuchField]]"})
	_, err = Init(ctx, Options{Request: Request{Name: "btc-up"}, OutputDir: out, Force: true, Packs: broken})
	if err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Fatalf("broken render: %v", err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "keep me" {
		t.Fatalf("old workspace damaged by a failed --force: %v", err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("leftovers in --output: %v", entries)
	}
	// --force that succeeds replaces the workspace.
	res, err := Init(ctx, Options{Request: Request{Name: "btc-up", Pack: "realtime"}, OutputDir: out, Force: true})
	if err != nil || !res.Replaced {
		t.Fatalf("forced init: %+v %v", res, err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old file survived the replacement: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Fatalf("leftovers in --output after --force: %v", entries)
	}
	b, err := os.ReadFile(filepath.Join(res.NodeDir, "config", "scheduled_prediction_configs.json"))
	if err != nil || !strings.Contains(string(b), "realtime-btc") {
		t.Fatalf("replaced workspace is not the realtime pack: %s %v", b, err)
	}
}

func TestInitWritesOnlyInsideOutput(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	res, err := Init(context.Background(), Options{Request: Request{Name: "btc-up"}, OutputDir: out})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "out" {
		t.Fatalf("init wrote outside --output: %v", entries)
	}
	err = filepath.WalkDir(res.Workspace, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(out, p); strings.HasPrefix(rel, "..") {
			t.Errorf("%s is outside %s", p, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(context.Background(), Options{Request: Request{Name: "../escape"}, OutputDir: out}); err == nil || !IsInputError(err) {
		t.Fatalf("escaping name accepted: %v", err)
	}
}

func TestDetectSourceDir(t *testing.T) {
	root := testutil.RepoRoot(t)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvSourceDir {
				return v
			}
			return ""
		}
	}
	if got, err := DetectSourceDir(env(root)); err != nil || got != root {
		t.Fatalf("explicit checkout: %q %v", got, err)
	}
	if got, err := DetectSourceDir(env("off")); err != nil || got != "" {
		t.Fatalf("off: %q %v", got, err)
	}
	if _, err := DetectSourceDir(env(t.TempDir())); err == nil || !IsInputError(err) || !strings.Contains(err.Error(), EnvSourceDir) {
		t.Fatalf("non-checkout accepted: %v", err)
	}
	// A test binary is a development build of this checkout.
	if got, err := DetectSourceDir(env("")); err != nil || got != root {
		t.Fatalf("auto-detect from a development build: %q %v", got, err)
	}
}
