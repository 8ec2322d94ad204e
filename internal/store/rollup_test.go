package store

import (
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
