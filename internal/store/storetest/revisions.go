package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testChartRevisions: every write of chart data (predictions inserted,
// scored or given a terminal status; score points saved, also when a
// point saved again moves to another model or day) increments the
// revision of each series and day it touches, and only those; the
// query's kind, models and day range select.
func testChartRevisions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a day end
	q := store.ChartRevisionQuery{Kind: store.ChartPredictions, From: day.Add(-72 * time.Hour), To: day.Add(72 * time.Hour)}
	revs := func(q store.ChartRevisionQuery) map[string]int64 {
		t.Helper()
		got, err := s.ChartRevisions(ctx, q)
		must(t, err, "ChartRevisions")
		out := map[string]int64{}
		for i, r := range got {
			if r.Kind != q.Kind || !r.DayEnd.Equal(store.ChartDayEnd(r.DayEnd)) || r.DayEnd.Location() != time.UTC {
				t.Errorf("ChartRevisions: %+v: expected kind %s and a UTC day end", r, q.Kind)
			}
			if i > 0 && store.CompareChartRevisions(got[i-1], r) >= 0 {
				t.Errorf("ChartRevisions: %+v before %+v: expected the CompareChartRevisions order", got[i-1], r)
			}
			out[fmt.Sprintf("%s/%s@%s", r.ModelID, r.ScopeKey, r.DayEnd.Format("01-02T15"))] = r.Rev
		}
		return out
	}
	same := func(what string, got, want map[string]int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: revisions %v, want %v", what, got, want)
		}
	}
	same("empty database", revs(q), map[string]int64{})

	// Day (end - 24 h, end]: a prediction at the day end belongs to it.
	a := pred("CR-a", "m1", day, day.Add(time.Minute))
	b := pred("CR-b", "m1", day.Add(time.Microsecond), day.Add(time.Minute))
	c := pred("CR-c", "m2", day.Add(-time.Hour), day.Add(-time.Hour+time.Minute))
	c.ScopeKey = "ETH-60-60"
	d := pred("CR-d", "m1", day.Add(-23*time.Hour), day.Add(-23*time.Hour+time.Minute))
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, []store.Prediction{a, b, c, d})
	must(t, err, "SavePredictCycle")
	same("one predict cycle", revs(q), map[string]int64{"m1/BTC-60-60@03-02T00": 1, "m1/BTC-60-60@03-03T00": 1, "m2/ETH-60-60@03-02T00": 1})

	// A stored prediction scored: its series and day only.
	n, err := s.ClaimAndScore(ctx, day.Add(-23*time.Hour+time.Minute), 10, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		if len(claimed) != 1 || claimed[0].ID != "CR-d" {
			return nil, fmt.Errorf("claimed %v, want CR-d", ids(claimed))
		}
		return []store.ScoreUpdate{{PredictionID: "CR-d", Score: &store.Score{Value: f64(0.5), Success: true}}}, nil
	})
	must(t, err, "ClaimAndScore")
	if n != 1 {
		t.Fatalf("ClaimAndScore claimed %d, want 1", n)
	}
	same("a score", revs(q), map[string]int64{"m1/BTC-60-60@03-02T00": 2, "m1/BTC-60-60@03-03T00": 1, "m2/ETH-60-60@03-02T00": 1})

	// A terminal status without a score changes the prediction's row too.
	_, err = s.ClaimAndScore(ctx, day.Add(time.Minute), 10, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		var out []store.ScoreUpdate
		for _, p := range claimed {
			if p.ID == "CR-c" {
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: "no ground truth"})
			}
		}
		return out, nil
	})
	must(t, err, "ClaimAndScore (status)")
	if got := revs(q)["m2/ETH-60-60@03-02T00"]; got < 2 {
		t.Errorf("a terminal status: revision of m2/ETH-60-60 is %d, want >= 2", got)
	}

	// Filters: models, day range (the days holding From and To).
	same("m2 only", revs(store.ChartRevisionQuery{Kind: store.ChartPredictions, ModelIDs: []string{"m2", "nope"}, From: q.From, To: q.To}),
		map[string]int64{"m2/ETH-60-60@03-02T00": revs(q)["m2/ETH-60-60@03-02T00"]})
	if got := revs(store.ChartRevisionQuery{Kind: store.ChartPredictions, From: day.Add(time.Microsecond), To: day.Add(time.Hour)}); len(got) != 1 || got["m1/BTC-60-60@03-03T00"] != 1 {
		t.Errorf("the day after %s only: revisions %v, want m1/BTC-60-60@03-03T00 only", day, got)
	}
	same("no score points yet", revs(store.ChartRevisionQuery{Kind: store.ChartModelScores, From: q.From, To: q.To}), map[string]int64{})

	// Score points; a point saved again under its id moves: both days change.
	env := json.RawMessage(`{"metrics":{},"ranking":{"key":"x","value":1,"direction":"desc"},"payload":{}}`)
	p1 := store.ModelScore{ID: "MS-1", ModelID: "m1", Score: env, ComputedAt: day.Add(-time.Hour)}
	p2 := store.ModelScore{ID: "MS-2", ModelID: "m2", Score: env, ComputedAt: day.Add(-time.Hour)}
	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LB-1", CreatedAt: day, Entries: json.RawMessage(`[]`)}, []store.ModelScore{p1, p2}), "SaveLeaderboard")
	msq := store.ChartRevisionQuery{Kind: store.ChartModelScores, From: q.From, To: q.To}
	same("score points", revs(msq), map[string]int64{"m1/@03-02T00": 1, "m2/@03-02T00": 1})
	p1.ComputedAt = day.Add(time.Hour)
	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LB-2", CreatedAt: day, Entries: json.RawMessage(`[]`)}, []store.ModelScore{p1}), "SaveLeaderboard (moved)")
	same("a moved score point", revs(msq), map[string]int64{"m1/@03-02T00": 2, "m1/@03-03T00": 1, "m2/@03-02T00": 1})

	for _, bad := range []store.ChartRevisionQuery{
		{Kind: "nope", From: q.From, To: q.To},
		{Kind: store.ChartPredictions, To: q.To},
		{Kind: store.ChartPredictions, From: q.To, To: q.From},
	} {
		_, err := s.ChartRevisions(ctx, bad)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("ChartRevisions(%+v)", bad))
	}
}
