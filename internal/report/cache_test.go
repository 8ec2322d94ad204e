package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// refLeaderboardBody is the former map-based /reports/leaderboard encoding
// (rows as map[string]any through writeJSON), the reference the
// pre-encoded answer must equal byte for byte.
func refLeaderboardBody(t *testing.T, s *server) []byte {
	t.Helper()
	ctx := context.Background()
	lb, err := s.opts.Store.LatestLeaderboard(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return refEncode(t, []any{})
	}
	if err != nil {
		t.Fatalf("reference leaderboard: %v", err)
	}
	entries, err := s.parseLeaderboard(lb)
	if err != nil {
		t.Fatalf("reference leaderboard: %v", err)
	}
	idx := refModelIndex(t, s)
	sum := summarise(lb, entries)
	rows := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		info, known := idx[e.modelID]
		name, cruncher := info.name, info.cruncher
		if e.modelName != "" {
			name = e.modelName
		}
		if e.cruncherName != "" {
			cruncher = e.cruncherName
		}
		status := ModelUnknown
		if known {
			status = info.status
		}
		if info.active {
			status = "active"
		}
		row := map[string]any{
			"created_at": ts(lb.CreatedAt), "model_id": e.modelID, "model_name": name, "cruncher_name": cruncher,
			"username": cruncher, "rank": nil, "score_metrics": e.score.Metrics, "score_ranking": e.score.Ranking,
			"score_payload": e.score.Payload, "status": status, "active": info.active,
			"ranked_models": sum.ranked, "scores_exist": sum.scoresExist,
		}
		if e.rank > 0 {
			row["rank"] = e.rank
		}
		flattenMetrics(row, e.score.Metrics)
		rows = append(rows, row)
	}
	return refEncode(t, rows)
}

// refModelIndex is modelIndex without the cache.
func refModelIndex(t *testing.T, s *server) map[string]modelInfo {
	t.Helper()
	models, err := s.opts.Store.ListModels(context.Background())
	if err != nil {
		t.Fatalf("reference model index: %v", err)
	}
	states := s.modelStates()
	idx := map[string]modelInfo{}
	for _, m := range models {
		st, ok := states[m.ID]
		idx[m.ID] = modelInfo{name: m.Name, cruncher: m.PlayerName, status: modelStatus(st, ok), active: ok && st.Running && !st.Stopped}
	}
	for id, st := range states {
		if _, ok := idx[id]; !ok {
			idx[id] = modelInfo{name: st.Name, status: modelStatus(st, true), active: st.Running && !st.Stopped}
		}
	}
	return idx
}

// refModelsBody is the former map-based /reports/models encoding.
func refModelsBody(t *testing.T, s *server) []byte {
	t.Helper()
	models, err := s.opts.Store.ListModels(context.Background())
	if err != nil {
		t.Fatalf("reference models: %v", err)
	}
	states := s.modelStates()
	row := func(m store.Model, st host.ModelState, ok bool) map[string]any {
		r := map[string]any{
			"model_id": m.ID, "model_name": m.Name, "cruncher_name": m.PlayerName, "cruncher_id": m.PlayerID,
			"deployment_id": m.DeploymentID, "status": modelStatus(st, ok), "active": ok && st.Running && !st.Stopped,
			"stop_reason": nil, "restarts": st.Restarts, "consecutive_failures": st.ConsecutiveFailures,
			"consecutive_timeouts": st.ConsecutiveTimeouts, "last_error": nil, "version": st.Version,
			"cooldowns": st.Cooldowns, "state_since": tsString(st.StateSince), "next_retry_at": tsString(st.NextRetry),
			"created_at": ts(m.CreatedAt), "updated_at": ts(m.UpdatedAt),
		}
		if st.Reason != "" {
			r["stop_reason"] = string(st.Reason)
		}
		if st.LastError != "" {
			r["last_error"] = st.LastError
		}
		if r["model_name"] == "" && st.Name != "" {
			r["model_name"] = st.Name
		}
		return r
	}
	rows := []map[string]any{}
	seen := map[string]bool{}
	for _, m := range models {
		if m.ID == "" {
			continue
		}
		seen[m.ID] = true
		st, ok := states[m.ID]
		rows = append(rows, row(m, st, ok))
	}
	for id, st := range states {
		if !seen[id] {
			rows = append(rows, row(store.Model{ID: id, Name: st.Name}, st, true))
		}
	}
	slices.SortFunc(rows, func(a, b map[string]any) int { return strings.Compare(a["model_id"].(string), b["model_id"].(string)) })
	return refEncode(t, rows)
}

func refEncode(t *testing.T, v any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, v)
	if rec.Code != http.StatusOK {
		t.Fatalf("reference encoding failed: %s", rec.Body)
	}
	return rec.Body.Bytes()
}

// trickyStore is a fake store whose names, metrics and envelopes exercise
// the string escaping and key ordering of the pre-encoded answers.
func trickyStore(t *testing.T) *fakeStore {
	t.Helper()
	f := newFakeStore()
	ctx := t.Context()
	if err := f.UpsertModels(ctx, []store.Model{
		{ID: "m<1>", Name: `quote " and \ backslash`, PlayerName: "tab\there & <b>", PlayerID: "p\u2028x", DeploymentID: "dé", CreatedAt: fixtureNow.Add(-time.Hour), UpdatedAt: fixtureNow},
		{ID: "m2", Name: "", PlayerName: "ctrl\x01char"},
		{ID: "42", Name: "numeric id", PlayerName: "bad utf8 \xff"},
	}); err != nil {
		t.Fatal(err)
	}
	entries := `[
		{"model_id":"m<1>","rank":3,"score":{"metrics":{"recent":0.1,"score_x":1,"x":2,"ranking":5,"payload":"7.5","nan":"NaN","obj":{"a":1},"big":1e21,"tiny":1e-7,"flag":true},
			"ranking":{"key":"recent","value":0.1,"direction":"desc","tie_breakers":["a<b",null,{"z":1,"a":[]}]},"payload":{"nested":{"b":[1,2.5,"x&y"],"a":null}}}},
		{"model_id":42,"rank":1.0,"model_name":"from entry \u00e9","score":{"metrics":{"recent":-0.000001234,"steady":123456789012}}},
		{"model_id":"m2","rank":2.5,"score":"not an envelope"},
		{"model_id":"ghost","rank":2,"cruncher_name":"only cruncher","score":null},
		{"model_id":"m4","score":{"metrics":{"a":1},"ranking":null,"payload":[1]}}
	]`
	if err := f.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_t", CreatedAt: fixtureNow.Add(-time.Minute), Entries: json.RawMessage(entries)}, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEncodedAnswersMatchMapEncoding checks that the pre-encoded
// leaderboard and models answers are byte for byte what the former
// map-based encoding produced (same keys, key order, escaping, numbers).
func TestEncodedAnswersMatchMapEncoding(t *testing.T) {
	states := append(slices.Clone(fixtureStates),
		host.ModelState{ID: "m2", Name: "two", Stopped: true, LastError: "boom <&>"},
		host.ModelState{ID: "m4", Name: "delta \"4\"", Version: "v\u2029", Running: true, Restarts: 2, ConsecutiveFailures: 1})
	stores := map[string]func(*testing.T) Store{
		"tricky": func(t *testing.T) Store { return trickyStore(t) },
		"empty":  func(*testing.T) Store { return newFakeStore() },
	}
	for _, b := range backends {
		stores["fixture "+b] = func(t *testing.T) Store { return newFixtureStore(t, b) }
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			srv := newServer(Options{Store: st, ModelStates: func() []host.ModelState { return states }})
			h := srv.handler()
			for _, tc := range []struct {
				path string
				ref  func(*testing.T, *server) []byte
			}{
				{"/reports/leaderboard", refLeaderboardBody},
				{"/reports/models", refModelsBody},
			} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: status %d: %s", tc.path, rec.Code, rec.Body)
				}
				want := tc.ref(t, srv)
				if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
					t.Errorf("%s differs from the map encoding:\n got %s\nwant %s", tc.path, got, want)
				}
				if !json.Valid(rec.Body.Bytes()) {
					t.Errorf("%s: invalid JSON: %s", tc.path, rec.Body)
				}
			}
		})
	}
}

// countingStore counts the store reads of the leaderboard, models and
// health endpoints.
type countingStore struct {
	Store
	listModels, latest, counts atomic.Int64
}

func (c *countingStore) CountPredictions(ctx context.Context, status string) (int64, error) {
	c.counts.Add(1)
	return c.Store.CountPredictions(ctx, status)
}

func (c *countingStore) ListModels(ctx context.Context) ([]store.Model, error) {
	c.listModels.Add(1)
	return c.Store.ListModels(ctx)
}

func (c *countingStore) LatestLeaderboard(ctx context.Context) (store.Leaderboard, error) {
	c.latest.Add(1)
	return c.Store.LatestLeaderboard(ctx)
}

// TestAnswersCachedWithinTTL: repeated and concurrent requests within the
// TTL read the store once; with caching disabled every request reads it and
// sees changes at once.
func TestAnswersCachedWithinTTL(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		wantReads int64
	}{
		{"cached", time.Hour, 1},
		{"disabled", -1, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureStore(t, "fake").(*fakeStore)
			cs := &countingStore{Store: f}
			srv := newTestServer(t, cs, func(o *Options) { o.CacheTTL = tc.ttl })
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 10 {
						for _, p := range []string{"/reports/leaderboard", "/reports/models"} {
							if status, _, body := get(t, srv, http.MethodGet, p); status != 200 {
								t.Errorf("%s: status %d: %s", p, status, body)
							}
						}
					}
				})
			}
			wg.Wait()
			if got := cs.latest.Load(); got != tc.wantReads {
				t.Errorf("LatestLeaderboard read %d times for 40 leaderboard requests, want %d", got, tc.wantReads)
			}
			// Stored models: read by both endpoints without the cache.
			wantModels := tc.wantReads
			if tc.ttl < 0 {
				wantModels = 2 * tc.wantReads
			}
			if got := cs.listModels.Load(); got != wantModels {
				t.Errorf("ListModels read %d times for 80 requests, want %d", got, wantModels)
			}
			// A renamed model: visible at once without the cache, not before
			// the TTL with it.
			if err := f.UpsertModels(t.Context(), []store.Model{{ID: "m3", Name: "renamed", PlayerName: "carol"}}); err != nil {
				t.Fatal(err)
			}
			_, _, body := get(t, srv, http.MethodGet, "/reports/models")
			if renamed := bytes.Contains(body, []byte(`"renamed"`)); renamed != (tc.ttl < 0) {
				t.Errorf("renamed model visible = %v within the TTL %v", renamed, tc.ttl)
			}
		})
	}
}

// TestCacheRefreshAfterExpiry: an expired answer is rebuilt, so a new
// leaderboard and a changed model status are served.
func TestCacheRefreshAfterExpiry(t *testing.T) {
	f := newFixtureStore(t, "fake").(*fakeStore)
	states := []host.ModelState{{ID: "m1", Running: true}}
	var mu sync.Mutex
	srv := newServer(Options{Store: f, CacheTTL: time.Hour, ModelStates: func() []host.ModelState {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}})
	h := srv.handler()
	serve := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		return rec.Body.String()
	}
	if body := serve("/reports/leaderboard"); !strings.Contains(body, `"model_id":"m1"`) || !strings.Contains(body, `"status":"active"`) {
		t.Fatalf("first leaderboard = %s", body)
	}
	mu.Lock()
	states[0] = host.ModelState{ID: "m1", Stopped: true, Reason: host.StopMultipleTimeout}
	mu.Unlock()
	if err := f.SaveLeaderboard(t.Context(), store.Leaderboard{ID: "LBR_new", CreatedAt: fixtureNow,
		Entries: json.RawMessage(`[{"model_id":"m1","rank":1,"score":{"metrics":{"fresh":1}}}]`)}, nil); err != nil {
		t.Fatal(err)
	}
	if body := serve("/reports/leaderboard"); strings.Contains(body, "score_fresh") {
		t.Fatalf("new leaderboard served before the TTL ended: %s", body)
	}
	srv.lbBody.mu.Lock()
	srv.lbBody.expires = time.Time{}
	srv.lbBody.mu.Unlock()
	srv.modelsBody.mu.Lock()
	srv.modelsBody.expires = time.Time{}
	srv.modelsBody.mu.Unlock()
	srv.modelList.mu.Lock()
	srv.modelList.expires = time.Time{}
	srv.modelList.mu.Unlock()
	body := serve("/reports/leaderboard")
	if !strings.Contains(body, `"score_fresh":1`) || !strings.Contains(body, `"status":"failed"`) || strings.Contains(body, `"model_id":"m2"`) {
		t.Errorf("leaderboard after expiry = %s", body)
	}
	if body := serve("/reports/models"); !strings.Contains(body, `"stop_reason":"MULTIPLE_TIMEOUT"`) {
		t.Errorf("models after expiry = %s", body)
	}
}

func TestTTLCache(t *testing.T) {
	ctx := context.Background()
	t.Run("concurrent misses load once", func(t *testing.T) {
		c := ttlCache[int]{ttl: time.Hour}
		var loads atomic.Int64
		release := make(chan struct{})
		started := make(chan struct{})
		load := func(context.Context) (int, error) {
			if loads.Add(1) == 1 {
				close(started)
			}
			<-release
			return 7, nil
		}
		var wg sync.WaitGroup
		results := make(chan int, 8)
		wg.Go(func() {
			v, _ := c.get(ctx, time.Minute, load)
			results <- v
		})
		<-started
		for range 7 {
			wg.Go(func() {
				v, err := c.get(ctx, time.Minute, load)
				if err != nil {
					t.Error(err)
				}
				results <- v
			})
		}
		close(release)
		wg.Wait()
		close(results)
		for v := range results {
			if v != 7 {
				t.Errorf("got %d, want 7", v)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Errorf("load ran %d times, want 1", n)
		}
	})
	t.Run("stale value served during a refresh", func(t *testing.T) {
		c := ttlCache[int]{ttl: time.Hour}
		if v, err := c.get(ctx, time.Minute, func(context.Context) (int, error) { return 1, nil }); v != 1 || err != nil {
			t.Fatalf("first get = %d, %v", v, err)
		}
		c.mu.Lock()
		c.expires = time.Time{}
		c.mu.Unlock()
		release := make(chan struct{})
		started := make(chan struct{})
		done := make(chan int)
		go func() {
			v, _ := c.get(ctx, time.Minute, func(context.Context) (int, error) {
				close(started)
				<-release
				return 2, nil
			})
			done <- v
		}()
		<-started
		v, err := c.get(ctx, time.Minute, func(context.Context) (int, error) {
			t.Error("second load while one is running")
			return 0, nil
		})
		if v != 1 || err != nil {
			t.Errorf("get during refresh = %d, %v; want the stale 1", v, err)
		}
		close(release)
		if v := <-done; v != 2 {
			t.Errorf("refresh returned %d, want 2", v)
		}
		if v, _ := c.get(ctx, time.Minute, nil); v != 2 {
			t.Errorf("after refresh = %d, want 2", v)
		}
	})
	t.Run("error drops the value", func(t *testing.T) {
		c := ttlCache[int]{ttl: time.Hour}
		boom := errors.New("store down")
		if _, err := c.get(ctx, time.Minute, func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		v, err := c.get(ctx, time.Minute, func(context.Context) (int, error) { return 3, nil })
		if v != 3 || err != nil {
			t.Errorf("after an error = %d, %v; want a new load", v, err)
		}
	})
	t.Run("panic leaves no open flight", func(t *testing.T) {
		c := ttlCache[int]{ttl: time.Hour}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("load panic not propagated")
				}
			}()
			_, _ = c.get(ctx, time.Minute, func(context.Context) (int, error) { panic("boom") })
		}()
		if v, err := c.get(ctx, time.Minute, func(context.Context) (int, error) { return 4, nil }); v != 4 || err != nil {
			t.Errorf("after a panic = %d, %v", v, err)
		}
	})
	t.Run("load deadline and no caller cancellation", func(t *testing.T) {
		c := ttlCache[int]{ttl: time.Hour}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.get(cctx, time.Minute, func(lctx context.Context) (int, error) {
			if lctx.Err() != nil {
				return 0, fmt.Errorf("load context already done: %w", lctx.Err())
			}
			if _, ok := lctx.Deadline(); !ok {
				return 0, errors.New("load context has no deadline")
			}
			return 5, nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		c := ttlCache[int]{ttl: -1}
		n := 0
		for range 3 {
			_, _ = c.get(ctx, time.Minute, func(context.Context) (int, error) { n++; return n, nil })
		}
		if n != 3 {
			t.Errorf("disabled cache loaded %d times for 3 gets, want 3", n)
		}
	})
}

// TestHealthzCountsOncePerTTL: health probes cost a ping; the prediction
// count (a table scan) is loaded at most once per cache TTL.
func TestHealthzCountsOncePerTTL(t *testing.T) {
	cs := &countingStore{Store: newFixtureStore(t, "fake")}
	h := New(Options{Store: cs, CacheTTL: time.Hour})
	for i := 0; i < 5; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"predictions":`) {
			t.Fatalf("healthz %d: %s", rec.Code, rec.Body.String())
		}
	}
	if n := cs.counts.Load(); n != 1 {
		t.Fatalf("CountPredictions called %d times for 5 probes within the TTL, want 1", n)
	}
}
