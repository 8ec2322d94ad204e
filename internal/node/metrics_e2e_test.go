package node_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelsapi"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestMetricsReplay replays two hours of real candles through a node with
// the baseline pack's challenge plugin and its Python models (run locally
// by the model runner), then scrapes GET /metrics on the node's handler,
// parses it with the Prometheus text parser and checks the families
// against the store: each model's status counts equal its stored rows,
// its call histogram counts its answered rows, the predict cycle
// histograms count the stored cycles, and the feed staleness of BTC is
// the clock minus the newest stored candle. READ_API_KEY guards it.
func TestMetricsReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replay with a built challenge plugin and Python models (slow); run without -short")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := newBaselineNode(t, ctx, nil)
	// Keep the Python models only: no model plugin to build.
	var entries []config.ModelConfig
	for _, m := range b.w.Models {
		if m.Runtime == config.RuntimePython {
			entries = append(entries, config.ModelConfig{ID: m.ID, Runtime: m.Runtime, Path: m.Path, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName})
		}
	}
	if len(entries) < 2 {
		t.Fatalf("expected the baseline pack's Python examples, found %d", len(entries))
	}
	b.setModels(t, entries)
	st := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "metrics.db"))
	const readKey = "read-key-for-metrics"
	if b.w.Settings.Env == nil {
		b.w.Settings.Env = map[string]string{}
	}
	b.w.Settings.Env[modelsapi.ReadKeyVar] = readKey
	n := b.start(t, ctx, st, "metrics-e2e", node.AllRoles)
	sim, first := n.sim, n.rp.First()
	prog, err := n.Replay(ctx, n.rp, sim, node.ReplayOptions{From: first, Until: first.Add(2*time.Hour - n.rp.Step())})
	if err != nil || prog.CycleErrors != 0 || prog.Cycles == 0 {
		t.Fatalf("replay: %v (%d cycles, %d failed)", err, prog.Cycles, prog.CycleErrors)
	}

	scrape := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		rec := httptest.NewRecorder()
		n.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, key := range []string{"", "wrong"} {
		if rec := scrape(key); rec.Code != http.StatusUnauthorized {
			t.Fatalf("GET /metrics with key %q: status %d, expected 401 (READ_API_KEY is set)", key, rec.Code)
		}
	}
	rec := scrape(readKey)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, name := range []string{
		"coordinator_model_call_duration_seconds", "coordinator_model_predictions_total", "coordinator_cycle_duration_seconds",
		"coordinator_predict_cycles_total", "coordinator_score_cycles_total", "coordinator_scoring_lag_seconds",
		"coordinator_feed_staleness_seconds", "coordinator_plugin_restarts_total", "go_goroutines",
	} {
		if families[name] == nil {
			t.Errorf("family %s missing from /metrics", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	preds := listPredictions(t, ctx, st)
	rows := map[[2]string]float64{} // (model, status) -> stored rows
	answered := map[string]uint64{}
	for _, p := range preds {
		rows[[2]string{p.ModelID, p.Status}]++
		if p.Status != store.StatusAbsent {
			answered[p.ModelID]++
		}
	}
	for _, m := range entries {
		for _, status := range []string{store.StatusSuccess, store.StatusFailed, store.StatusTimeout, store.StatusCrashed, store.StatusBadImplementation, store.StatusAbsent} {
			got, ok := sample(families["coordinator_model_predictions_total"], map[string]string{"model_id": m.ID, "status": status})
			if !ok {
				t.Errorf("no coordinator_model_predictions_total{model_id=%q,status=%q}", m.ID, status)
				continue
			}
			if want := rows[[2]string{m.ID, status}]; got.GetCounter().GetValue() != want {
				t.Errorf("model %s %s: counter %v, stored rows %v", m.ID, status, got.GetCounter().GetValue(), want)
			}
		}
		if rows[[2]string{m.ID, store.StatusSuccess}] == 0 {
			t.Errorf("model %s: no SUCCESS row in the replay", m.ID)
		}
		h, ok := sample(families["coordinator_model_call_duration_seconds"], map[string]string{"model_id": m.ID})
		if !ok || h.GetHistogram().GetSampleCount() != answered[m.ID] {
			t.Errorf("model %s: call histogram count %d, expected %d answered rows", m.ID, h.GetHistogram().GetSampleCount(), answered[m.ID])
		}
	}
	stored, _ := sample(families["coordinator_predict_cycles_total"], map[string]string{"outcome": "stored"})
	total, _ := sample(families["coordinator_cycle_duration_seconds"], map[string]string{"stage": "predict_total"})
	calls, _ := sample(families["coordinator_cycle_duration_seconds"], map[string]string{"stage": "call_models"})
	if c := stored.GetCounter().GetValue(); c == 0 || uint64(c) != total.GetHistogram().GetSampleCount() || uint64(c) != calls.GetHistogram().GetSampleCount() {
		t.Errorf("stored predict cycles %v, predict_total histogram %d, call_models histogram %d: expected equal and > 0",
			c, total.GetHistogram().GetSampleCount(), calls.GetHistogram().GetSampleCount())
	}
	if c := int(stored.GetCounter().GetValue()); c != prog.Cycles {
		t.Errorf("stored predict cycles %d, replay ran %d", c, prog.Cycles)
	}
	scoreRuns, _ := sample(families["coordinator_score_cycles_total"], map[string]string{"outcome": "ok"})
	scoreHist, _ := sample(families["coordinator_cycle_duration_seconds"], map[string]string{"stage": "score"})
	if c := scoreRuns.GetCounter().GetValue(); c == 0 || uint64(c) != scoreHist.GetHistogram().GetSampleCount() {
		t.Errorf("score cycles %v, score histogram %d: expected equal and > 0", c, scoreHist.GetHistogram().GetSampleCount())
	}
	lag := families["coordinator_scoring_lag_seconds"].GetMetric()[0].GetGauge().GetValue()
	if lag < 0 || lag > 3600 {
		t.Errorf("scoring lag %v s: expected within the replay's horizon", lag)
	}
	sums, err := st.FeedSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var newest time.Time
	for _, s := range sums {
		if s.Asset == "BTC" {
			newest = s.NewestTs
		}
	}
	fs, ok := sample(families["coordinator_feed_staleness_seconds"], map[string]string{"asset": "BTC"})
	if !ok || newest.IsZero() {
		t.Fatalf("no feed staleness for BTC (stored newest %s)", newest)
	}
	if want := sim.Now().Sub(newest).Seconds(); fs.GetGauge().GetValue() != want {
		t.Errorf("BTC staleness %v s, expected clock - newest candle = %v s", fs.GetGauge().GetValue(), want)
	}
	if _, ok := sample(families["coordinator_plugin_restarts_total"], map[string]string{"plugin_id": "challenge"}); !ok {
		t.Error("no coordinator_plugin_restarts_total{plugin_id=\"challenge\"}")
	}
	t.Logf("%d rows over %d cycles; scoring lag %v s; BTC staleness %v s", len(preds), prog.Cycles, lag, fs.GetGauge().GetValue())
}

// sample returns the metric of family f whose labels include want.
func sample(f *dto.MetricFamily, want map[string]string) (*dto.Metric, bool) {
	for _, m := range f.GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(want) {
			return m, true
		}
	}
	return nil, false
}
