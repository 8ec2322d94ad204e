package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

func find(rs []Result, status, substr string) *Result {
	for i, r := range rs {
		if r.Status == status && strings.Contains(r.Check+" "+r.Message+" "+r.Where, substr) {
			return &rs[i]
		}
	}
	return nil
}

func TestWorkspaceMiswiring(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(map[string]string)
		want   string // substring of a failing result
	}{
		{"missing env var", func(f map[string]string) {
			f[config.CallablesFile] = strings.Replace(f[config.CallablesFile], "RAW_INPUT_PROVIDER=default\n", "", 1)
		}, "RAW_INPUT_PROVIDER"},
		{"malformed interval", func(f map[string]string) { f[config.LocalEnvFile] = "CHECKPOINT_INTERVAL_SECONDS=1m\n" }, "CHECKPOINT_INTERVAL_SECONDS"},
		{"ranking key names no metric", func(f map[string]string) { f[config.LocalEnvFile] = "RANKING_KEY=acnhor\n" }, `variable RANKING_KEY`},
		{"tie-breaker names no metric", func(f map[string]string) { f[config.LocalEnvFile] = "RANKING_TIE_BREAKERS=no_such_metric\n" }, `"no_such_metric" is not a metric`},
		{"missing models file", func(f map[string]string) { delete(f, config.ModelsFile) }, "file config/models.json"},
		{"bad schedule", func(f map[string]string) {
			f[config.SchedulesFile] = `[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":0}}]`
		}, "horizon >= 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := testnode.WriteNode(t, "127.0.0.1:0", c.mutate)
			rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true})
			r := find(rs, Fail, c.want)
			if r == nil {
				t.Fatalf("no failing result mentioning %q in %+v", c.want, rs)
			}
			if r.Fix == "" {
				t.Fatalf("failure without a fix: %+v", r)
			}
			if !Failed(rs) {
				t.Fatal("Failed() = false")
			}
		})
	}
}

func TestHealthyWorkspaceStorageWarnsUntilCreated(t *testing.T) {
	dir := testnode.WriteNode(t, "127.0.0.1:0", nil)
	rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true})
	if r := find(rs, Warn, "SQLite file does not exist yet"); r == nil {
		t.Fatalf("want storage warning, got %+v", rs)
	}
	for _, r := range rs {
		if r.Status == Fail {
			t.Fatalf("unexpected failure %+v", r)
		}
	}
}

func TestUnreachableDatabase(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	dir := testnode.WriteNode(t, "127.0.0.1:0", func(f map[string]string) {
		f[config.LocalEnvFile] = "DATABASE_URL=postgres://u:secret@127.0.0.1:" + itoa(port) + "/db?connect_timeout=2\n"
	})
	rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true})
	r := find(rs, Fail, "127.0.0.1:"+itoa(port))
	if r == nil || r.Group != "storage" {
		t.Fatalf("want storage failure naming the server, got %+v", rs)
	}
	if strings.Contains(r.Where+r.Message, "secret") {
		t.Fatalf("password leaked: %+v", r)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAPIChecks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/reports/models", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[{"model_id":"a"}]`)) })
	mux.HandleFunc("/reports/leaderboard", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`[{"model_id":"a","rank":2},{"model_id":"b","rank":1}]`))
	})
	mux.HandleFunc("/reports/schema", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"leaderboard_columns":[{"id":1}],"metrics_widgets":[]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rs := Run(context.Background(), Options{APIURL: srv.URL, APIExplicit: true})
	if r := find(rs, Fail, "not sorted by rank"); r == nil {
		t.Fatalf("unsorted leaderboard not reported: %+v", rs)
	}
	if r := find(rs, Pass, "/healthz"); r == nil {
		t.Fatalf("healthz should pass: %+v", rs)
	}

	srv.Close()
	rs = Run(context.Background(), Options{APIURL: srv.URL, APIExplicit: true})
	if r := find(rs, Fail, "does not answer"); r == nil {
		t.Fatalf("API down not reported: %+v", rs)
	}
}

func TestLogMarkers(t *testing.T) {
	dir := testnode.WriteNode(t, "127.0.0.1:0", nil)
	logDir := layout.Of(dir).LogDir()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := `{"@level":"info","@message":"predict cycle done"}
{"@level":"error","@message":"model stopped","model_id":"trend-following","code":"BAD_IMPLEMENTATION","reason":"output does not decode"}
`
	if err := os.WriteFile(filepath.Join(logDir, "node.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true})
	r := find(rs, Fail, "BAD_IMPLEMENTATION")
	if r == nil || !strings.Contains(r.Message, "trend-following") || !strings.Contains(r.Where, "line 2") {
		t.Fatalf("marker not reported with model and line: %+v", r)
	}
}

func TestBusyPortWhenNodeNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	dir := testnode.WriteNode(t, "127.0.0.1:0", func(f map[string]string) { f[config.LocalEnvFile] = "API_ADDR=" + addr + "\n" })
	// The listener answers no HTTP: the API check sees a non-answering node.
	rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true, APIURL: "http://127.0.0.1:1"})
	if r := find(rs, Fail, "busy, held by pid"); r == nil {
		t.Fatalf("busy port not reported: %+v", rs)
	}
}

func TestFeedCheck(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	cases := []struct {
		name, env, status, want string
	}{
		{"unreachable pyth warns", "PYTH_HERMES_URL=" + closed + "\nFEED_TIMEOUT_SECONDS=1\n", Warn, "did not deliver"},
		{"bad setting fails", "FEED_PROVIDER=kraken\n", Fail, "kraken"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := testnode.WriteNode(t, "127.0.0.1:0", func(f map[string]string) { f[config.LocalEnvFile] = c.env })
			rs := Run(context.Background(), Options{NodeDir: dir, SkipPlugins: true, ProbeFeed: true})
			r := find(rs, c.status, c.want)
			if r == nil || r.Group != "feed" {
				t.Fatalf("want a %s feed result mentioning %q, got %+v", c.status, c.want, rs)
			}
		})
	}
}

func TestVerifyNodeNamesMissingModels(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/reports/models", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[{"model_id":"a"}]`)) })
	mux.HandleFunc("/reports/leaderboard", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[{"model_id":"a","rank":1}]`)) })
	mux.HandleFunc("/reports/schema", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"leaderboard_columns":[{"id":1}],"metrics_widgets":[]}`))
	})
	mux.HandleFunc("/reports/predictions", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[{"score_value":0.7}]`)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rs := VerifyNode(context.Background(), nil, srv.URL, "a", "coin-flip")
	if r := find(rs, Fail, "missing from the leaderboard: coin-flip"); r == nil {
		t.Fatalf("missing model not reported: %+v", rs)
	}
	if rs := VerifyNode(context.Background(), nil, srv.URL, "a"); Failed(rs) {
		t.Fatalf("all configured models present, yet: %+v", rs)
	}
}

// TestConfigErrorsWhere: a file problem is reported at its file from the
// error's facts (fileerr.Error); other errors keep their whole message.
func TestConfigErrorsWhere(t *testing.T) {
	models := filepath.Join(t.TempDir(), "config", "models.json")
	_ = os.MkdirAll(filepath.Dir(models), 0o755)
	if err := os.WriteFile(models, []byte(`[{"id":"","path":"x"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, perr := config.ParseModels(models, filepath.Dir(models))
	rs := configErrors(errors.Join(perr, errors.New("read a/b: c: d")))
	if len(rs) != 2 || rs[0].Where != models || rs[0].Message != "models[0].id: required" {
		t.Fatalf("file error: %+v", rs)
	}
	if rs[1].Where != "" || rs[1].Message != "read a/b: c: d" {
		t.Errorf("plain error: %+v", rs[1])
	}
}
