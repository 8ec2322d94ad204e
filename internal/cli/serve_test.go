package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// migratedSQLite returns the URL of a new migrated SQLite database.
func migratedSQLite(t *testing.T) string {
	t.Helper()
	u := "sqlite://" + filepath.Join(t.TempDir(), "serve.db")
	if _, err := dbmigrate.Apply(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestServeRejectsBadInput(t *testing.T) {
	node := renderedWorkspace(t)
	missing := "sqlite://" + filepath.Join(t.TempDir(), "none.db")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"no role", []string{"serve"}, nil, 2, []string{"expected one role"}},
		{"unknown role", []string{"serve", "train"}, nil, 2, []string{`role "train": expected one of predict, score, report, all`}},
		{"two roles", []string{"serve", "score", "report"}, nil, 2, []string{"expected one role"}},
		{"no workspace", []string{"serve", "report"}, nil, 2, []string{"no node workspace found"}},
		{"bad integer variable", []string{"serve", "score", "--workspace", node}, map[string]string{"SCORE_INTERVAL_SECONDS": "soon", "DATABASE_URL": missing}, 2,
			[]string{"environment: SCORE_INTERVAL_SECONDS", `found "soon"`}},
		{"bad feed variable", []string{"serve", "predict", "--workspace", node}, map[string]string{"FEED_KIND": "orderbook", "DATABASE_URL": missing}, 2,
			[]string{"FEED_KIND"}},
		{"bad database scheme", []string{"serve", "report", "--workspace", node}, map[string]string{"DATABASE_URL": "mysql://u:pw12345@h/db"}, 2,
			[]string{"environment: DATABASE_URL", `unknown scheme "mysql"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, out, errOut := newTestFactory(t, c.env)
			code := Execute(f, c.args)
			all := out.String() + errOut.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, all)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "pw12345") {
				t.Errorf("output leaks the password:\n%s", all)
			}
		})
	}
}

// TestServeRefusesUnmigrated: serve exits 1 with the migrate hint and
// changes nothing, whatever the role, on a missing SQLite file, an empty
// SQLite database and an empty PostgreSQL database.
func TestServeRefusesUnmigrated(t *testing.T) {
	node := renderedWorkspace(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, url, role string
		want            string
	}{
		{"missing sqlite file", "sqlite://" + filepath.Join(dir, "missing.db"), "all", "does not exist yet"},
		{"empty sqlite database", "sqlite://" + empty, "report", "is at schema version 0, this coordinator needs"},
		{"empty postgres database", "postgres", "score", "is at schema version 0, this coordinator needs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.url
			if u == "postgres" {
				u = testutil.ScratchDatabase(t, "coordinator_cli")
			}
			f, out, errOut := newTestFactory(t, map[string]string{"DATABASE_URL": u, "COORDINATOR_WORKSPACE": node})
			code := Execute(f, []string{"serve", c.role})
			all := out.String() + errOut.String()
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, all)
			}
			for _, w := range []string{"refusing to start", c.want, "run `coordinator migrate`", dburl.Redact(u)} {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if s, err := dbmigrate.Check(context.Background(), u); err != nil || s.Current != 0 {
				t.Errorf("serve changed the database: %+v %v", s, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !os.IsNotExist(err) {
		t.Errorf("serve created the missing SQLite file (%v)", err)
	}
}

// TestServeReportSIGTERM runs the built binary: `serve report` answers
// /healthz and /reports/schema, then exits 0 on SIGTERM leaving no plugin
// process behind.
func TestServeReportSIGTERM(t *testing.T) {
	node := builtWorkspace(t)
	binDir := filepath.Join(node, ".coordinator", "bin")
	backends := []struct{ name, url string }{{"sqlite", ""}, {"postgres", ""}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var u string
			if b.name == "postgres" {
				u = testutil.ScratchDatabase(t, "coordinator_cli")
				if _, err := dbmigrate.Apply(context.Background(), u); err != nil {
					t.Fatal(err)
				}
			} else {
				u = migratedSQLite(t)
			}
			p := startServe(t, node, map[string]string{"DATABASE_URL": u, "API_ADDR": "127.0.0.1:0"}, "serve", "report", "--skip-build")
			addr, _ := p.waitLog(t, "report API listening", 2*time.Minute)["addr"].(string)
			if addr == "" {
				t.Fatalf("no addr in the listening line:\n%s", p.output())
			}
			p.waitLog(t, "serving", time.Minute)

			var health map[string]any
			getJSON(t, "http://"+addr+"/healthz", &health)
			if health["status"] != "ok" || health["backend"] != b.name {
				t.Errorf("/healthz: %v", health)
			}
			var schema map[string]any
			getJSON(t, "http://"+addr+"/reports/schema", &schema)
			if cols, _ := schema["leaderboard_columns"].([]any); len(cols) == 0 {
				t.Errorf("/reports/schema has no leaderboard columns: %v", schema)
			}
			if procs := pluginProcesses(t, binDir); len(procs) != 1 {
				t.Errorf("serve report runs %d plugin processes, want 1 (the challenge, no model): %v", len(procs), procs)
			}

			if code := p.terminate(t); code != 0 {
				t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.output())
			}
			p.waitLog(t, "stopped", time.Second)
			if procs := pluginProcesses(t, binDir); len(procs) > 0 {
				t.Errorf("plugin processes left after serve exited: %v", procs)
			}
		})
	}
}

// TestServePredictFeedDown: with the Pyth feed pointing at a closed port,
// `serve predict` says at once that the feed is unreachable, skips its
// predict cycles on the stale feed, stores no prediction and still exits 0
// on SIGTERM.
func TestServePredictFeedDown(t *testing.T) {
	node := builtWorkspace(t)
	binDir := filepath.Join(node, ".coordinator", "bin")
	u := migratedSQLite(t)
	hermes := fmt.Sprintf("http://127.0.0.1:%d", closedPort(t))
	p := startServe(t, node, map[string]string{"DATABASE_URL": u, "FEED_PROVIDER": "pyth", "PYTH_HERMES_URL": hermes}, "serve", "predict", "--skip-build")

	down := p.waitLog(t, "feed unreachable at start-up", 2*time.Minute)
	if down["@level"] != "error" || down["url"] != hermes || !strings.Contains(fmt.Sprint(down["error"]), "connection refused") {
		t.Errorf("feed-down line: %v", down)
	}
	skipped := p.waitLog(t, "predict cycle skipped", 2*time.Minute)
	if !strings.Contains(fmt.Sprint(skipped["reason"]), "BTC") {
		t.Errorf("skip line: %v", skipped)
	}
	all, err := config.ParseModels(filepath.Join(node, config.ModelsFile), node)
	if err != nil {
		t.Fatal(err)
	}
	var models []string // the Go plugins, whose binaries are under binDir
	for _, m := range all {
		if m.Runtime == config.RuntimeGo {
			models = append(models, m.ID)
		}
	}
	if procs := pluginProcesses(t, binDir); len(procs) != 1+len(models) {
		t.Errorf("serve predict runs %d plugin processes, want %d (challenge + %d models): %v", len(procs), 1+len(models), len(models), procs)
	}
	if code := p.terminate(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.output())
	}
	if procs := pluginProcesses(t, binDir); len(procs) > 0 {
		t.Errorf("plugin processes left after serve exited: %v", procs)
	}

	st, err := dburl.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.CountPredictions(context.Background(), ""); err != nil || n != 0 {
		t.Errorf("predictions stored with the feed down: %d (%v)", n, err)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
