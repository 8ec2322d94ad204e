package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

func TestRequestLogAtDebug(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &lockedWriter{w: &buf, mu: &mu}})
	srv := newTestServer(t, newFakeStore(), func(o *Options) { o.Logger = logger })
	get(t, srv, http.MethodGet, "/reports/models?x=1")
	get(t, srv, http.MethodPost, "/reports/models")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"path=/reports/models", "status=200", "status=405", "method=POST", "query=x=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("request log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[INFO]") || !strings.Contains(out, "[DEBUG]") {
		t.Errorf("request log not at debug level:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestConcurrentReadsWhileWriting reads every endpoint from several
// goroutines while another writes predictions, on SQLite (run with -race).
func TestConcurrentReadsWhileWriting(t *testing.T) {
	st := newFixtureStore(t, "sqlite")
	srv := newTestServer(t, st, nil)
	w := st.(seeder)
	paths := []string{"/reports/leaderboard", "/reports/models", "/reports/models/global", "/reports/models/params",
		"/reports/predictions", "/reports/feeds", "/reports/feeds/tail", "/reports/checkpoints", "/healthz"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	wg.Go(func() {
		for i := range 20 {
			p := pred("m3", "BTC-60", btcScope, time.Duration(i)*time.Minute+5*time.Second, store.StatusSuccess, ok(0.5))
			if _, err := w.SavePredictCycle(t.Context(), nil, []store.Prediction{p}); err != nil {
				errs <- fmt.Errorf("writing prediction %d: %w", i, err)
				return
			}
		}
	})
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				path := paths[(g+i)%len(paths)]
				resp, err := srv.Client().Get(srv.URL + path)
				if err != nil {
					errs <- err
					return
				}
				var v any
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil {
					errs <- fmt.Errorf("%s: status %d, decode error %v", path, resp.StatusCode, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// benchStore is a fake store with 200 models, a 200-entry leaderboard and
// 200 supervisor states.
func benchServer(b *testing.B) http.Handler {
	f := newFakeStore()
	var models []store.Model
	var states []host.ModelState
	var entries []map[string]any
	for i := range 200 {
		id := fmt.Sprintf("model-%03d", i)
		models = append(models, store.Model{ID: id, Name: "name-" + id, PlayerID: "p", PlayerName: "player"})
		states = append(states, host.ModelState{ID: id, Running: i%3 != 0})
		v := float64(i) / 200
		entries = append(entries, map[string]any{"model_id": id, "rank": 200 - i, "score": json.RawMessage(envelope(v, v, v, nil))})
	}
	if err := f.UpsertModels(b.Context(), models); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveLeaderboard(b.Context(), store.Leaderboard{ID: "LBR", CreatedAt: fixtureNow, Entries: mustJSON(entries)}, nil); err != nil {
		b.Fatal(err)
	}
	return New(Options{
		Store:       f,
		Schema:      fixtureSchema(),
		ModelStates: func() []host.ModelState { return states },
		Clock:       clock.NewSimulated(fixtureNow),
	})
}

func benchGet(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%s: status %d", path, rec.Code)
		}
	}
}

// BenchmarkLeaderboard serves a 200-entry leaderboard.
func BenchmarkLeaderboard(b *testing.B) { benchGet(b, benchServer(b), "/reports/leaderboard") }

// BenchmarkModels serves 200 models joined with their supervisor states.
func BenchmarkModels(b *testing.B) { benchGet(b, benchServer(b), "/reports/models") }
