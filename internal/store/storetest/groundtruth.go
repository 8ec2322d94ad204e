package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testGroundTruth checks that the ground truth a ClaimAndScore update
// carries is stored with the prediction (with a score or with a terminal
// status) and read back by every prediction read, so a score can be
// recomputed from the database alone (issue 13).
func testGroundTruth(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	now := base.Add(time.Hour)
	const truth = `{"entry_price": 100000.5, "resolved_price": 100012.25, "move": "up", "y": 1, "entry_price_time": "2026-02-12T10:15:00Z"}`
	const flat = `{"entry_price": 7, "resolved_price": 7, "move": "flat", "flat_moves": "exclude"}`
	cases := []struct {
		name       string
		update     store.ScoreUpdate
		wantStatus string
		wantScored bool
		wantTruth  string // "" = none stored
	}{
		{"scored with ground truth", store.ScoreUpdate{Score: &store.Score{Value: f64(0.96), Success: true}, GroundTruth: json.RawMessage(truth)}, store.StatusSuccess, true, truth},
		{"score failed with ground truth", store.ScoreUpdate{Score: &store.Score{Success: false, FailedReason: "bad output"}, GroundTruth: json.RawMessage(truth)}, store.StatusSuccess, true, truth},
		{"unresolved with ground truth", store.ScoreUpdate{Status: store.StatusUnresolved, Reason: "flat move excluded", GroundTruth: json.RawMessage(flat)}, store.StatusUnresolved, false, flat},
		{"unresolved without ground truth", store.ScoreUpdate{Status: store.StatusUnresolved, Reason: "gap"}, store.StatusUnresolved, false, ""},
		{"scored without ground truth", store.ScoreUpdate{Score: &store.Score{Value: f64(0.5), Success: true}}, store.StatusSuccess, true, ""},
	}
	var ps []store.Prediction
	for i, c := range cases {
		at := base.Add(time.Duration(i) * time.Minute)
		ps = append(ps, pred(c.name, "m1", at.Add(-time.Minute), at))
	}
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")
	n, err := s.ClaimAndScore(ctx, now, 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		out := make([]store.ScoreUpdate, 0, len(claimed))
		for _, p := range claimed {
			if p.GroundTruth != nil {
				t.Errorf("claimed %s: expected no ground truth before scoring, got %s", p.ID, p.GroundTruth)
			}
			for _, c := range cases {
				if c.name == p.ID {
					u := c.update
					u.PredictionID = p.ID
					out = append(out, u)
				}
			}
		}
		return out, nil
	})
	must(t, err, "ClaimAndScore with ground truth")
	if n != len(cases) {
		t.Fatalf("ClaimAndScore: expected %d claimed, got %d", len(cases), n)
	}
	listed, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	window, err := s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, 0)
	must(t, err, "WindowPredictions")
	byID := map[string]store.Prediction{}
	for _, p := range listed {
		byID[p.ID] = p
	}
	inWindow := map[string]store.Prediction{}
	for _, p := range window {
		inWindow[p.ID] = p
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := byID[c.name]
			if !ok {
				t.Fatalf("ListPredictions: prediction %q missing", c.name)
			}
			if p.Status != c.wantStatus || (p.Score != nil) != c.wantScored {
				t.Errorf("status %s scored %v, expected %s scored %v", p.Status, p.Score != nil, c.wantStatus, c.wantScored)
			}
			if c.wantTruth == "" {
				if p.GroundTruth != nil {
					t.Errorf("ListPredictions: expected no ground truth, got %s", p.GroundTruth)
				}
			} else {
				wantJSON(t, "ListPredictions ground truth", p.GroundTruth, c.wantTruth)
			}
			if c.wantScored {
				w, ok := inWindow[c.name]
				if !ok {
					t.Fatalf("WindowPredictions: scored prediction %q missing", c.name)
				}
				if c.wantTruth != "" {
					wantJSON(t, "WindowPredictions ground truth", w.GroundTruth, c.wantTruth)
				} else if w.GroundTruth != nil {
					t.Errorf("WindowPredictions: expected no ground truth, got %s", w.GroundTruth)
				}
			}
		})
	}

	// Invalid ground truth is refused before anything is written.
	_, err = s.SavePredictCycle(ctx, nil, []store.Prediction{pred("BAD-TRUTH-ON-INSERT", "m1", now, now)})
	must(t, err, "SavePredictCycle of a prediction to claim")
	withTruth := pred("TRUTH-ON-INSERT", "m1", now, now)
	withTruth.GroundTruth = json.RawMessage(truth)
	_, err = s.SavePredictCycle(ctx, nil, []store.Prediction{withTruth})
	wantErrIs(t, err, store.ErrInvalidValue, "SavePredictCycle of a prediction carrying a ground truth")
	for _, bad := range []struct{ name, truth string }{
		{"not JSON", `{"y": NaN}`},
		{"an array", `[1, 0]`},
		{"a NUL escape", `{"asset": "BTC\u0000"}`},
		{"a number overflowing float64", `{"entry_price": 1e999}`},
	} {
		_, err := s.ClaimAndScore(ctx, now, 10, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
			return []store.ScoreUpdate{{PredictionID: claimed[0].ID, Score: &store.Score{Value: f64(1), Success: true}, GroundTruth: json.RawMessage(bad.truth)}}, nil
		})
		wantErrIs(t, err, store.ErrInvalidValue, "ClaimAndScore with a ground truth that is "+bad.name)
	}
	left, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions after refused updates")
	for _, p := range left {
		if p.ID == "BAD-TRUTH-ON-INSERT" && (p.Score != nil || p.GroundTruth != nil) {
			t.Errorf("refused ground truth must not be written: %+v", p)
		}
		if p.ID == "TRUTH-ON-INSERT" {
			t.Errorf("a prediction carrying a ground truth must not be inserted")
		}
	}
}
