package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

// Typos in every settings file are errors naming the file and the key, with
// a "did you mean" when a known name is close; every error of a file is
// reported at once; all of them match config.ErrInvalid (exit code 2).
func TestConfigTypos(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		body  string
		want  []string
		clean bool
	}{
		{"local.env timeout typo", config.LocalEnvFile, "MODEL_CALL_TIMEOUT_SECOND=2\n",
			[]string{".local.env: MODEL_CALL_TIMEOUT_SECOND: unknown variable (did you mean MODEL_CALL_TIMEOUT_SECONDS?)"}, false},
		{"local.env two typos at once", config.LocalEnvFile, "FEED_ASSSETS=ETH\nMODEL_CALL_TIMEOUT_SECOND=2\n",
			[]string{"FEED_ASSSETS: unknown variable (did you mean FEED_ASSETS?)", "MODEL_CALL_TIMEOUT_SECOND: unknown variable (did you mean MODEL_CALL_TIMEOUT_SECONDS?)"}, false},
		{"local.env lower case", config.LocalEnvFile, "log_level=debug\n", []string{"log_level: unknown variable (did you mean LOG_LEVEL?)"}, false},
		{"local.env other tool's variable", config.LocalEnvFile, "POSTGRES_PASSWORD=x\n",
			[]string{"POSTGRES_PASSWORD: unknown variable; a variable for another tool goes in COORDINATOR_ALLOW_VARS=POSTGRES_PASSWORD"}, false},
		{"local.env allowed other tool's variable", config.LocalEnvFile, "COORDINATOR_ALLOW_VARS=POSTGRES_PASSWORD, AWS_REGION\nPOSTGRES_PASSWORD=x\nAWS_REGION=eu\n", nil, true},
		{"local.env per-asset family", config.LocalEnvFile, "BINANCE_SYMBOL_ETH=ETHUSDC\nPYTH_FEED_ID_DOGE=0xdcef50dd0a4cd2dcc17e45df1676dcb336a11a61c69df7a0299b0150c672d25c\n", nil, true},
		{"local.env bad value and typo together", config.LocalEnvFile, "SCORE_INTERVAL_SECONDS=soon\nFEED_PROVIDR=binance\n",
			[]string{"SCORE_INTERVAL_SECONDS: expected a whole number", "FEED_PROVIDR: unknown variable (did you mean FEED_PROVIDER?)"}, false},
		{"callables typo", config.CallablesFile, "CHALLENGE_PLUGIN=../c/cmd/challenge\nINFERENCE_INPUT_BUILDER=challenge\nINFERENCE_OUTPUT_VALIDATOR=default\n" +
			"SCORING_FUNCTON=challenge\nMODEL_SCORE_AGGREGATOR=default\nREPORT_SCHEMA_PROVIDER=default\nLEADERBOARD_RANKER=default\n" +
			"RAW_INPUT_PROVIDER=default\nGROUND_TRUTH_RESOLVER=default\nPREDICTION_SCOPE_BUILDER=default\nPREDICT_CALL_BUILDER=default\n",
			[]string{"SCORING_FUNCTON: unknown variable (did you mean SCORING_FUNCTION?)", "SCORING_FUNCTION: missing"}, false},
		{"models typos, all reported", config.ModelsFile, `[{"id":"m1","pth":"../c/m1"},{"id":"m2","path":"../c/m2","nmae":"x","player_id":7}]`,
			[]string{`models[0].pth: unknown key (did you mean "path"?)`, "models[0].path: required", `models[1].nmae: unknown key (did you mean "name"?)`,
				"models[1].player_id: expected a JSON string, found 7"}, false},
		{"schedule key typo", config.SchedulesFile, `[{"scope_key":"default","scope_template":{"asset":"BTC","horizon_seconds":60},"schedule":{"every_second":60}}]`,
			[]string{`row 0: schedule: unknown key "every_second" (did you mean "every_seconds"?)`, "row 0: schedule: every_seconds: required"}, false},
		{"schedule row typo", config.SchedulesFile, `[{"scope_key":"default","scope_templat":{"asset":"BTC"},"schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`,
			[]string{`row 0: unknown key "scope_templat" (did you mean "scope_template"?)`}, false},
		{"two errors in one row", config.SchedulesFile, `[{"scope_key":7,"active":"yes","schedule":{"every_seconds":"x","resolve_after_seconds":60}}]`,
			[]string{"row 0: scope_key: expected", "row 0: active: expected", `row 0: schedule: every_seconds: expected an integer number of seconds, found "x"`}, false},
		{"errors in two rows", config.SchedulesFile, `[{"scope_key":"a","schedule":{"every_seconds":0,"resolve_after_seconds":60}},{"scope_key":"b","schedule":{"every_seconds":60}}]`,
			[]string{"row 0: schedule: every_seconds: expected an integer >= 1, found 0", "row 1: schedule: resolve_after_seconds: required"}, false},
		{"horizon the predict cycle would reject", config.SchedulesFile, `[{"scope_key":"default","scope_template":{"asset":"BTC","horizon_seconds":"sixty"},"schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`,
			[]string{`schedule "default": scope_template: scope "default" key "horizon_seconds": expected whole seconds (integer >= 1), found sixty`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := testnode.WriteNode(t, "127.0.0.1:0", func(files map[string]string) {
				if tc.file == config.LocalEnvFile {
					files[tc.file] += tc.body
				} else {
					files[tc.file] = tc.body
				}
			})
			_, err := config.LoadWorkspace(node, func(string) string { return "" })
			if tc.clean {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// The process environment is not checked (it holds every program's
// variables), but the known settings are read from it.
func TestProcessEnvironmentNotChecked(t *testing.T) {
	node := testnode.WriteNode(t, "127.0.0.1:0", nil)
	env := map[string]string{"FEED_ASSSETS": "ETH", "HOME": "/root", "SCORE_INTERVAL_SECONDS": "7"}
	w, err := config.LoadWorkspace(node, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if w.Settings.ScoreInterval.Seconds() != 7 {
		t.Fatalf("score interval %v", w.Settings.ScoreInterval)
	}
}

// Every setting in the registry is documented and listed once.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range append(append([]config.Setting{}, config.Known...), config.KnownFamilies...) {
		if s.Name == "" || s.Doc == "" || seen[s.Name] {
			t.Errorf("setting %+v: empty name or doc, or listed twice", s)
		}
		seen[s.Name] = true
	}
	for _, n := range config.IntVarNames() {
		if !config.IsKnownVar(n) {
			t.Errorf("%s is parsed but not registered", n)
		}
	}
}
