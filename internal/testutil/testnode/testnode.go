// Package testnode writes node workspaces for tests. It is apart from
// testutil because it imports config, which the store drivers' own tests
// (through testutil's database helpers) must not.
package testnode

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
)

// WriteNode writes a minimal valid node workspace into a new temporary
// directory and returns it: settings (API_ADDR=apiAddr), callables.env
// routing the two required callables to a challenge plugin that is not
// built, one model and one schedule. mutate may change the files (keyed by
// their path relative to the node directory) before they are written.
func WriteNode(t testing.TB, apiAddr string, mutate func(files map[string]string)) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		config.LocalEnvFile: "API_ADDR=" + apiAddr + "\n",
		config.CallablesFile: "CHALLENGE_PLUGIN=../c/cmd/challenge\n" +
			"INFERENCE_INPUT_BUILDER=challenge\nINFERENCE_OUTPUT_VALIDATOR=default\nSCORING_FUNCTION=challenge\n" +
			"MODEL_SCORE_AGGREGATOR=default\nREPORT_SCHEMA_PROVIDER=default\nLEADERBOARD_RANKER=default\n" +
			"RAW_INPUT_PROVIDER=default\nGROUND_TRUTH_RESOLVER=default\nPREDICTION_SCOPE_BUILDER=default\nPREDICT_CALL_BUILDER=default\n",
		config.ModelsFile:    `[{"id":"m1","path":"../c/examples/m1"}]`,
		config.SchedulesFile: `[{"scope_key":"default","scope_template":{"asset":"BTC","horizon_seconds":60},"schedule":{"every_seconds":60}}]`,
	}
	if mutate != nil {
		mutate(files)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
