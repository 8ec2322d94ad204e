package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

func TestParseSettingsDefaultsAndErrors(t *testing.T) {
	s, err := ParseSettings(map[string]string{}, "env")
	if err != nil {
		t.Fatal(err)
	}
	if s.CheckpointInterval != 60*time.Second || s.APIAddr != "127.0.0.1:8000" || s.MaxConsecutiveFailures != 3 {
		t.Fatalf("defaults: %+v", s)
	}
	if s.Aggregation.NonAnswer.String() != "window_worst" || s.Aggregation.Key() != "anchor" || len(s.Aggregation.TieBreakers) != 0 {
		t.Fatalf("aggregation defaults: %+v", s.Aggregation)
	}
	s, err = ParseSettings(map[string]string{"SCORE_NON_ANSWER": "0", "RANKING_KEY": "recent", "RANKING_TIE_BREAKERS": "coverage_recent,anchor"}, "env")
	if err != nil || s.Aggregation.NonAnswer.String() != "0" || s.Aggregation.Key() != "recent" || strings.Join(s.Aggregation.TieBreakers, ",") != "coverage_recent,anchor" {
		t.Fatalf("aggregation settings: %+v, %v", s.Aggregation, err)
	}
	if s.FlatMoves != "" {
		t.Fatalf("FLAT_MOVES unset: expected the challenge's default (empty), got %q", s.FlatMoves)
	}
	if s, err = ParseSettings(map[string]string{"FLAT_MOVES": "exclude"}, "env"); err != nil || s.FlatMoves != sdk.FlatExclude {
		t.Fatalf("FLAT_MOVES=exclude: %q, %v", s.FlatMoves, err)
	}
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CHECKPOINT_INTERVAL_SECONDS": "sixty"}, `CHECKPOINT_INTERVAL_SECONDS: expected a whole number`},
		{map[string]string{"SCORE_INTERVAL_SECONDS": "0"}, `SCORE_INTERVAL_SECONDS: expected an integer >= 1, found 0`},
		{map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT: expected text or json`},
		{map[string]string{"API_ADDR": "localhost"}, `API_ADDR: expected host:port`},
		{map[string]string{"DATABASE_URL": "mysql://u:p@h/db"}, `unknown scheme "mysql"`},
		{map[string]string{"PYTH_HERMES_URL": "hermes"}, `PYTH_HERMES_URL: expected an http(s) URL`},
		{map[string]string{"SCORE_NON_ANSWER": "ignore"}, `SCORE_NON_ANSWER: expected "window_worst" or a finite number`},
		{map[string]string{"RANKING_KEY": "score"}, `.local.env: RANKING_KEY: "score" is not a metric of the default aggregation`},
		{map[string]string{"RANKING_TIE_BREAKERS": "recent, no_such_metric"}, `RANKING_TIE_BREAKERS: "no_such_metric" is not a metric`},
		{map[string]string{"FLAT_MOVES": "up"}, `.local.env: FLAT_MOVES: expected "down", "half" or "exclude", found "up"`},
	}
	for _, c := range cases {
		_, err := ParseSettings(c.env, ".local.env")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.env, err, c.want)
		}
	}
}

func TestParseCallables(t *testing.T) {
	env := map[string]string{ChallengePluginVar: "../c/cmd/challenge"}
	for _, h := range Hooks {
		env[h.EnvVar] = RouteDefault
	}
	env["INFERENCE_INPUT_BUILDER"] = RouteChallenge
	env["SCORING_FUNCTION"] = RouteChallenge
	c, err := ParseCallables(env, "callables.env", "/w/node")
	if err != nil {
		t.Fatal(err)
	}
	if c.ChallengePlugin != "/w/c/cmd/challenge" {
		t.Fatalf("plugin path %q", c.ChallengePlugin)
	}
	if got := c.FromPlugin(); len(got) != 2 {
		t.Fatalf("FromPlugin = %v", got)
	}
	env[ModelBaseClassVar], env[ModelBasePathVar] = "tracker.TrackerBase", "../c/python"
	if c, err = ParseCallables(env, "callables.env", "/w/node"); err != nil || c.ModelBaseClass != "tracker.TrackerBase" || c.ModelBasePath != "/w/c/python" {
		t.Fatalf("base class settings: %+v %v", c, err)
	}
	delete(env, ModelBaseClassVar)
	delete(env, ModelBasePathVar)
	bad := map[string]string{}
	for k, v := range env {
		bad[k] = v
	}
	delete(bad, "RAW_INPUT_PROVIDER")
	bad["SCORING_FUNCTION"] = RouteDefault
	bad["LEADERBOARD_RANKER"] = "python:rank"
	bad["TYPO_VAR"] = "x"
	bad[ModelBaseClassVar] = "TrackerBase"
	_, err = ParseCallables(bad, "callables.env", "/w/node")
	for _, want := range []string{`MODEL_BASE_CLASSNAME: expected module.ClassName (e.g. tracker.TrackerBase), found "TrackerBase"`, "RAW_INPUT_PROVIDER: missing", "SCORING_FUNCTION: ScorePredictions is required", `LEADERBOARD_RANKER: expected "challenge" or "default", found "python:rank"`, "TYPO_VAR: unknown variable"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestParseModels(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "models.json")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"id":"a","path":"../m/a"},{"id":"b","path":"/abs/b","name":"B"},{"id":"p","path":"../py/p","runtime":"python"}]`)
	ms, err := ParseModels(p, "/w/node")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Path != "/w/m/a" || ms[0].Name != "a" || ms[1].Name != "B" || ms[0].Runtime != RuntimeGo {
		t.Fatalf("%+v", ms)
	}
	if ms[2].Runtime != RuntimePython || ms[2].Path != "/w/py/p" {
		t.Fatalf("python model: %+v", ms[2])
	}
	ws := &Workspace{Models: ms}
	if gm := ws.GoModels(); len(gm) != 2 || gm[1].ID != "b" {
		t.Fatalf("GoModels = %+v", gm)
	}
	for in, want := range map[string]string{
		`[]`: "at least one model",
		`[{"id":"a","path":"x"},{"id":"a","path":"y"}]`: "duplicate id",
		`[{"id":"a"}]`:                                     "path: required",
		`[{"id":"a","path":"x","z":1}]`:                    "models[0].z: unknown key",
		`[{"id":"a","path":"x","runtime":"rust"}]`:         `runtime: expected "go", "python" or "remote", found "rust"`,
		`[{"id":"../../../../tmp/x","path":"x"}]`:          `models[0].id "../../../../tmp/x": expected lowercase letters, digits and single hyphens`,
		`[{"id":"ok","path":"x"},{"id":"A/b","path":"y"}]`: `models[1].id "A/b"`,
	} {
		write(in)
		if _, err := ParseModels(p, "/w"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v want %q", in, err, want)
		}
	}
}

func TestMergeEnvProcessWins(t *testing.T) {
	got := MergeEnv(map[string]string{"API_ADDR": "127.0.0.1:1", "X": "file"}, func(k string) string {
		if k == "API_ADDR" {
			return "127.0.0.1:2"
		}
		return ""
	})
	if got["API_ADDR"] != "127.0.0.1:2" || got["X"] != "file" {
		t.Fatalf("%v", got)
	}
}

func TestFindNodeDir(t *testing.T) {
	ws := t.TempDir()
	node := filepath.Join(ws, "crunch-node-x")
	if err := os.MkdirAll(filepath.Join(node, "config", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(node, CallablesFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{ws, node, filepath.Join(node, "config", "sub")} {
		got, err := FindNodeDir(start)
		if err != nil || got != node {
			t.Errorf("FindNodeDir(%s) = %s, %v", start, got, err)
		}
	}
	if _, err := FindNodeDir(t.TempDir()); err == nil {
		t.Error("expected an error outside a workspace")
	}
}

// TestFactories: the three factory variables are read from callables.env
// and from .local.env/the environment (which win); a bad name is an
// error naming the file and variable.
func TestFactories(t *testing.T) {
	env := map[string]string{ChallengePluginVar: "../c/cmd/challenge", "REPORT_APP_FACTORY": "custom-report", "SCORE_SERVICE_FACTORY": "slow-score"}
	for _, h := range Hooks {
		env[h.EnvVar] = RouteChallenge
	}
	c, err := ParseCallables(env, "callables.env", "/w/node")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSettings(map[string]string{"REPORT_APP_FACTORY": "other-report", "PREDICT_SERVICE_FACTORY": "tournament-rounds"}, ".local.env")
	if err != nil {
		t.Fatal(err)
	}
	w := &Workspace{Callables: c, Settings: s}
	want := Factories{Predict: "tournament-rounds", Score: "slow-score", Report: "other-report"}
	if got := w.Factories(); got != want || !got.Any() || len(got.Selected()) != 3 {
		t.Fatalf("Factories() = %+v, want %+v", got, want)
	}
	if (Factories{}).Any() || len((Factories{}).Selected()) != 0 {
		t.Fatal("zero Factories selects something")
	}
	env["PREDICT_SERVICE_FACTORY"] = "Not A Name"
	if _, err := ParseCallables(env, "callables.env", "/w/node"); err == nil || !strings.Contains(err.Error(), `callables.env: PREDICT_SERVICE_FACTORY: expected a factory name`) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := ParseSettings(map[string]string{"SCORE_SERVICE_FACTORY": "a b"}, "environment"); err == nil || !strings.Contains(err.Error(), "environment: SCORE_SERVICE_FACTORY: expected a factory name") {
		t.Fatalf("bad name in the environment: %v", err)
	}
	if got := MergeEnv(nil, func(k string) string {
		if k == "REPORT_APP_FACTORY" {
			return "from-env"
		}
		return ""
	}); got["REPORT_APP_FACTORY"] != "from-env" {
		t.Fatalf("MergeEnv ignores REPORT_APP_FACTORY from the process: %v", got)
	}
}

// TestMergeEnvAllowVars: a variable named in COORDINATOR_ALLOW_VARS (in
// the file or the process) is read from the process too, so an
// extension's settings reach it under serve (environment only); an
// unlisted unknown variable of the process is not.
func TestMergeEnvAllowVars(t *testing.T) {
	proc := map[string]string{"TOURNAMENT_API_TOKEN": "from-env", "OTHER": "x", AllowVar: "TOURNAMENT_API_TOKEN"}
	getenv := func(k string) string { return proc[k] }
	for _, tc := range []struct {
		name string
		file map[string]string
	}{
		{"listed in the process", map[string]string{}},
		{"listed in the file", map[string]string{AllowVar: "TOURNAMENT_API_TOKEN", "TOURNAMENT_API_TOKEN": "from-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := MergeEnv(tc.file, getenv)
			if env["TOURNAMENT_API_TOKEN"] != "from-env" {
				t.Errorf("TOURNAMENT_API_TOKEN = %q, want the process value", env["TOURNAMENT_API_TOKEN"])
			}
			if _, ok := env["OTHER"]; ok {
				t.Errorf("an unlisted process variable was merged: %v", env)
			}
		})
	}
}
