package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/metrics"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

func TestPredictCycle(t *testing.T) {
	m := metrics.New(metrics.Options{Clock: clock.NewSimulated(time.Unix(0, 0)), Models: []string{"a", "b"}})
	preds := []store.Prediction{
		{ModelID: "a", Status: store.StatusSuccess, ExecTimeMs: 2},
		{ModelID: "a", Status: store.StatusTimeout, ExecTimeMs: 500},
		{ModelID: "b", Status: store.StatusAbsent},
		{ModelID: "b", Status: "SOMETHING_ELSE", ExecTimeMs: 1}, // counted as FAILED
		{ModelID: "c", Status: store.StatusSuccess, ExecTimeMs: 3},
	}
	m.PredictCycle("stored", metrics.PredictTiming{Total: time.Second}, preds)
	m.PredictCycle("skipped", metrics.PredictTiming{}, nil)
	m.PredictCycle("", metrics.PredictTiming{}, nil) // no due row: not counted

	const want = `
# HELP coordinator_model_predictions_total Prediction rows built per model and status in predict cycles that were stored.
# TYPE coordinator_model_predictions_total counter
`
	var b strings.Builder
	b.WriteString(want)
	for _, row := range []struct {
		id, status string
		n          int
	}{
		{"a", "ABSENT", 0}, {"a", "BAD_IMPLEMENTATION", 0}, {"a", "CRASHED", 0}, {"a", "FAILED", 0}, {"a", "SUCCESS", 1}, {"a", "TIMEOUT", 1},
		{"b", "ABSENT", 1}, {"b", "BAD_IMPLEMENTATION", 0}, {"b", "CRASHED", 0}, {"b", "FAILED", 1}, {"b", "SUCCESS", 0}, {"b", "TIMEOUT", 0},
		{"c", "ABSENT", 0}, {"c", "BAD_IMPLEMENTATION", 0}, {"c", "CRASHED", 0}, {"c", "FAILED", 0}, {"c", "SUCCESS", 1}, {"c", "TIMEOUT", 0},
	} {
		b.WriteString(`coordinator_model_predictions_total{model_id="` + row.id + `",status="` + row.status + `"} ` + string(rune('0'+row.n)) + "\n")
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(b.String()), "coordinator_model_predictions_total"); err != nil {
		t.Error(err)
	}
	// ABSENT rows are no call: b has one observation (the FAILED row).
	for id, n := range map[string]uint64{"a": 2, "b": 1, "c": 1} {
		if got := find(t, m, "coordinator_model_call_duration_seconds", "model_id", id).GetHistogram().GetSampleCount(); got != n {
			t.Errorf("model %s: %d calls observed, expected %d", id, got, n)
		}
	}
	if got := find(t, m, "coordinator_model_call_duration_seconds", "model_id", "a").GetHistogram().GetSampleSum(); got != 0.502 {
		t.Errorf("model a: call latency sum %v s, expected 0.502", got)
	}
	if got := find(t, m, "coordinator_cycle_duration_seconds", "stage", metrics.StagePredictTotal).GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("predict_total observations %d, expected 1 (the stored cycle)", got)
	}
	if got := find(t, m, "coordinator_predict_cycles_total", "outcome", "skipped").GetCounter().GetValue(); got != 1 {
		t.Errorf("skipped cycles %v, expected 1", got)
	}
}

func TestScoreCycleAndRestarts(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Clock: clock.NewSimulated(now)})
	m.ScoreCycle(time.Millisecond, now.Add(-90*time.Second), nil)
	if got := find(t, m, "coordinator_scoring_lag_seconds", "", "").GetGauge().GetValue(); got != 90 {
		t.Errorf("scoring lag %v, expected 90", got)
	}
	m.ScoreCycle(time.Millisecond, now.Add(-10*time.Second), errTest) // a failed cycle keeps the last lag
	if got := find(t, m, "coordinator_scoring_lag_seconds", "", "").GetGauge().GetValue(); got != 90 {
		t.Errorf("scoring lag after a failed cycle %v, expected 90", got)
	}
	m.ScoreCycle(time.Millisecond, time.Time{}, nil)
	if got := find(t, m, "coordinator_scoring_lag_seconds", "", "").GetGauge().GetValue(); got != 0 {
		t.Errorf("scoring lag with nothing left %v, expected 0", got)
	}
	for _, k := range []host.EventKind{host.EventRestart, host.EventExited, host.EventRestart, host.EventStarted} {
		m.HostEvent(host.Event{Kind: k, PluginID: "m1"})
	}
	if got := find(t, m, "coordinator_plugin_restarts_total", "plugin_id", "m1").GetCounter().GetValue(); got != 2 {
		t.Errorf("restarts of m1 %v, expected 2", got)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `coordinator_score_cycles_total{outcome="failed"} 1`) {
		t.Errorf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
}

type testErr struct{}

func (testErr) Error() string { return "test" }

var errTest error = testErr{}

// find gathers m's registry and returns the metric of family name with
// label=value (label "" for an unlabelled family).
func find(t *testing.T, m *metrics.Metrics, name, label, value string) *dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			if label == "" {
				return mt
			}
			for _, l := range mt.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return mt
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return nil
}

// A failing store read leaves feed staleness out of the scrape; the other
// families are still served.
func TestScrapeSurvivesFeedError(t *testing.T) {
	calls := 0
	m := metrics.New(metrics.Options{Clock: clock.NewSimulated(time.Unix(0, 0)), Models: []string{"a"},
		Feeds: func(context.Context) ([]store.FeedSummary, error) {
			calls++
			if calls == 1 {
				return nil, errTest
			}
			return []store.FeedSummary{{Provider: "p", Asset: "BTC", Kind: "candle", Granularity: "1m", NewestTs: time.Unix(-30, 0)}}, nil
		}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || strings.Contains(body, "coordinator_feed_staleness_seconds{") ||
		!strings.Contains(body, `coordinator_model_predictions_total{model_id="a",status="SUCCESS"} 0`) {
		t.Fatalf("scrape with a failing feed read: %d\n%s", rec.Code, body)
	}
	if got := find(t, m, "coordinator_feed_staleness_seconds", "asset", "BTC").GetGauge().GetValue(); got != 30 {
		t.Errorf("BTC staleness %v s, expected 30", got)
	}
}
