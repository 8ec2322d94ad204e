package serve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/node"
)

func TestNodeRoles(t *testing.T) {
	cases := []struct {
		role string
		want []node.Role
		err  string
	}{
		{RolePredict, []node.Role{node.RolePredict}, ""},
		{RoleScore, []node.Role{node.RoleScore}, ""},
		{RoleReport, []node.Role{node.RoleReport}, ""},
		{RoleAll, []node.Role{node.RolePredict, node.RoleScore, node.RoleReport}, ""},
		{"", nil, `role "": expected one of predict, score, report, all`},
		{"Predict", nil, `role "Predict"`},
	}
	for _, c := range cases {
		got, err := NodeRoles(c.role)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.role, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.role, got, err, c.want)
		}
		for _, r := range []node.Role{node.RolePredict, node.RoleScore, node.RoleReport} {
			if (node.Config{Roles: got}).HasRole(r) != (c.role == RoleAll || string(r) == c.role) {
				t.Errorf("%q: HasRole(%s) wrong", c.role, r)
			}
		}
	}
	if !(node.Config{}).HasRole(node.RoleScore) {
		t.Error("empty Roles must select every role (dev)")
	}
}

// writeNode writes a minimal node workspace (config files only).
func writeNode(t *testing.T, localEnv string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws", "crunch-node-x")
	files := map[string]string{
		config.CallablesFile: "CHALLENGE_PLUGIN=../crunch-x/cmd/challenge\n" +
			"INFERENCE_INPUT_BUILDER=challenge\nINFERENCE_OUTPUT_VALIDATOR=challenge\nSCORING_FUNCTION=challenge\n" +
			"MODEL_SCORE_AGGREGATOR=default\nREPORT_SCHEMA_PROVIDER=challenge\nLEADERBOARD_RANKER=default\n" +
			"RAW_INPUT_PROVIDER=challenge\nGROUND_TRUTH_RESOLVER=challenge\nPREDICTION_SCOPE_BUILDER=default\nPREDICT_CALL_BUILDER=default\n",
		config.ModelsFile:    `[{"id":"m1","path":"../crunch-x/examples/m1"}]`,
		config.SchedulesFile: `[{"scope_key":"default","scope_template":{"asset":"BTC","horizon_seconds":60,"step_seconds":60},"schedule":{"every_seconds":60,"resolve_after_seconds":60},"active":true,"order":0}]`,
	}
	if localEnv != "" {
		files[config.LocalEnvFile] = localEnv
	}
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadWorkspaceReadsTheEnvironmentOnly(t *testing.T) {
	dir := writeNode(t, "DATABASE_URL=postgres://u:p@db/x\nSCORE_INTERVAL_SECONDS=5\nAPI_ADDR=0.0.0.0:9\n")
	env := map[string]string{"SCORE_INTERVAL_SECONDS": "7", "LOG_FORMAT": "json"}
	getenv := func(k string) string { return env[k] }
	w, err := LoadWorkspace(dir, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if w.Settings.ScoreInterval != 7*time.Second || w.Settings.LogFormat != "json" {
		t.Errorf("environment not applied: %+v", w.Settings)
	}
	if w.Settings.APIAddr != "127.0.0.1:8000" || w.Settings.DatabaseURL != "" {
		t.Errorf(".local.env leaked into serve's settings: api %q db %q", w.Settings.APIAddr, w.Settings.DatabaseURL)
	}
	if want := "sqlite://" + layout.Of(dir).Database(); w.DatabaseURL() != want {
		t.Errorf("default database %q, want %q", w.DatabaseURL(), want)
	}
	if len(w.Models) != 1 || w.Models[0].Path != filepath.Join(filepath.Dir(dir), "crunch-x", "examples", "m1") || len(w.Schedules) != 1 {
		t.Errorf("config files: models %+v schedules %d", w.Models, len(w.Schedules))
	}
	if note := LocalEnvNote(dir, getenv); !strings.Contains(note, "sets DATABASE_URL") {
		t.Errorf("LocalEnvNote: %q", note)
	}
	env["DATABASE_URL"] = "sqlite:///tmp/x.db"
	if note := LocalEnvNote(dir, getenv); note != "" {
		t.Errorf("LocalEnvNote with DATABASE_URL exported: %q", note)
	}

	env["MODEL_CALL_TIMEOUT_SECONDS"] = "0"
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, config.ModelsFile)); err != nil {
		t.Fatal(err)
	}
	_, err = LoadWorkspace(dir, getenv)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "MODEL_CALL_TIMEOUT_SECONDS") || !strings.Contains(err.Error(), config.ModelsFile) {
		t.Errorf("want every problem, wrapping ErrConfig: %v", err)
	}
}

func TestFindNodeDir(t *testing.T) {
	dir := writeNode(t, "")
	other := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name, flag, envWS, workDir string
		want                       string
		err                        string
	}{
		{"flag", dir, "/nowhere", other, dir, ""},
		{"relative flag", "crunch-node-x/config", "", filepath.Dir(dir), dir, ""},
		{"env", "", dir, other, dir, ""},
		{"work dir", "", "", filepath.Join(dir, "config"), dir, ""},
		{"workspace root", "", "", filepath.Dir(dir), dir, ""},
		{"none", "", "", other, "", "the current directory"},
		{"bad env", "", other, dir, "", EnvWorkspace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env[EnvWorkspace] = c.envWS
			got, err := FindNodeDir(c.flag, c.workDir, getenv)
			if c.err != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want ErrConfig naming %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q %v, want %q", got, err, c.want)
			}
		})
	}
}

// A model id that could escape the state directory stops serve before any
// build (ErrConfig: exit code 2), naming the entry.
func TestRunRefusesUnsafeModelID(t *testing.T) {
	dir := writeNode(t, "")
	escape := filepath.Join(t.TempDir(), "x")
	rel, err := filepath.Rel(filepath.Join(dir, ".coordinator", "bin", "models"), escape)
	if err != nil {
		t.Fatal(err)
	}
	models := `[{"id":` + strconv.Quote(rel) + `,"path":"../crunch-x/examples/m1"}]`
	if err := os.WriteFile(filepath.Join(dir, config.ModelsFile), []byte(models), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	err = Run(context.Background(), Options{Role: Roles[0], NodeDir: dir, Getenv: func(string) string { return "" }, Log: &log})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "models[0].id "+strconv.Quote(rel)) {
		t.Fatalf("error %v, want ErrConfig naming models[0].id", err)
	}
	if _, err := os.Stat(escape); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists (%v): a build left the state directory", escape, err)
	}
}
