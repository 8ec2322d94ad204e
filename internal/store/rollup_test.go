package store

import (
	"fmt"
	"testing"
	"time"
)

func TestRollupBucketEnd(t *testing.T) {
	h := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at, want time.Time
	}{
		{h, h}, // closed on the right
		{h.Add(time.Microsecond), h.Add(time.Hour)},
		{h.Add(59 * time.Minute), h.Add(time.Hour)},
		{h.Add(-time.Microsecond), h},
		{h.In(time.FixedZone("X", 5*3600)).Add(30 * time.Minute), h.Add(time.Hour)},
	} {
		if got := RollupBucketEnd(tc.at); !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("RollupBucketEnd(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

func TestRollupsOf(t *testing.T) {
	h := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	v := func(x float64) *float64 { return &x }
	preds := []Prediction{
		{ID: "b", ModelID: "m", ScopeKey: "k", PerformedAt: h, Score: &Score{Value: v(1), Success: true}},
		{ID: "a", ModelID: "m", ScopeKey: "k", PerformedAt: h, Score: &Score{Value: v(2), Success: true}}, // tie: "b" is newer
		{ID: "c", ModelID: "m", ScopeKey: "k", PerformedAt: h.Add(-time.Minute), Score: &Score{Success: false}},
		{ID: "d", ModelID: "m", ScopeKey: "k", PerformedAt: h.Add(time.Minute), Score: &Score{Success: true}}, // next hour, no value
		{ID: "e", ModelID: "m", ScopeKey: "k", PerformedAt: h},                                                // unscored: not counted
	}
	got := RollupsOf(preds)
	if len(got) != 2 {
		t.Fatalf("got %d rollups, want 2: %+v", len(got), got)
	}
	r := got[0]
	if !r.BucketEnd.Equal(h) || r.Scored != 3 || r.Answered != 2 || r.Sum != 3 || r.LastID != "b" || r.LastValue == nil || *r.LastValue != 1 || string(r.LastScope) != "{}" {
		t.Errorf("first hour = %+v", r)
	}
	if r := got[1]; !r.BucketEnd.Equal(h.Add(time.Hour)) || r.Scored != 1 || r.Answered != 0 || r.LastID != "d" || r.LastValue != nil {
		t.Errorf("second hour = %+v", r)
	}
}

// TestRollupPointsBudgetOverTheDataSpan: the UI asks for 30 days; a
// competition two days old spends its point budget on those two days (cells
// sized from the oldest point in the window), never on the empty 28.
func TestRollupPointsBudgetOverTheDataSpan(t *testing.T) {
	end := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	var rollups []ScoreRollup
	for _, model := range []string{"a", "b"} {
		for h := 47; h >= 0; h-- {
			b := end.Add(-time.Duration(h) * time.Hour)
			v := 0.5
			rollups = append(rollups, ScoreRollup{ModelID: model, ScopeKey: "default", BucketEnd: b, Scored: 60, Answered: 60, Sum: 30,
				LastID: fmt.Sprintf("%s-%02d", model, h), LastPerformedAt: b.Add(-time.Minute), LastValue: &v})
		}
	}
	for _, tc := range []struct {
		name       string
		from       time.Time
		perSeries  int
		wantPoints int // per series
	}{
		{"30-day window, budget 24: a point every 2 h of the 48 h of data", end.Add(-30 * 24 * time.Hour), 24, 24},
		{"30-day window, budget 100: every hourly point", end.Add(-30 * 24 * time.Hour), 100, 48},
		{"window inside the data, budget 12: cells of 2 h over its 24 h", end.Add(-24 * time.Hour), 12, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := RollupPointQuery{From: tc.from, To: end, Windows: []time.Duration{time.Hour}, MaxPoints: 2 * tc.perSeries, MaxSeriesPoints: tc.perSeries}
			got := map[string]int{}
			for _, p := range RollupPointsOf(rollups, q) {
				got[p.ModelID]++
				if p.PerSeries != tc.perSeries {
					t.Fatalf("PerSeries = %d, want %d", p.PerSeries, tc.perSeries)
				}
			}
			if got["a"] != tc.wantPoints || got["b"] != tc.wantPoints {
				t.Fatalf("points per series = %v, want %d each", got, tc.wantPoints)
			}
		})
	}
}
