package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestHashCollisions: the indexes of migration 00021 hold hashtext of
// model_id and scope_key, and hashtext('m65521') = hashtext('m107105'),
// hashtext('s14208') = hashtext('s189525') (checked first). With two
// models and two scope keys of these, every read through those indexes
// (WindowPredictions, ListPredictions with ModelIDs, SamplePredictions
// with status "" and SUCCESS, and its series enumeration) returns the
// asked model's rows only, each series once: hashedMatch's column
// comparison rejects the colliding rows.
func TestHashCollisions(t *testing.T) {
	s, _ := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	modelIDs, scopes := []string{"m65521", "m107105"}, []string{"s14208", "s189525"}
	for _, pair := range [][]string{modelIDs, scopes} {
		var same bool
		if err := s.pool.QueryRow(ctx, `SELECT hashtext($1) = hashtext($2)`, pair[0], pair[1]).Scan(&same); err != nil || !same {
			t.Fatalf("expected hashtext(%q) = hashtext(%q), found equal=%v (%v)", pair[0], pair[1], same, err)
		}
	}
	if err := s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_001", ScopeKey: scopes[0], Active: true}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const perSeries = 5
	var models []store.Model
	var preds []store.Prediction
	for _, m := range modelIDs {
		models = append(models, store.Model{ID: m, Name: m, PlayerID: "p", PlayerName: "player"})
		for j, k := range scopes {
			// The second scope's predictions come 10 minutes after the
			// first's, so a series mixing them would start too early.
			for i := range perSeries {
				at := t0.Add(time.Duration(10*j+i) * time.Minute)
				preds = append(preds, store.Prediction{
					ID: fmt.Sprintf("%s-%s-%d", m, k, i), ModelID: m, PredictionConfigID: "CFG_001", ScopeKey: k,
					Scope: json.RawMessage(`{}`), Status: store.StatusSuccess, InferenceInput: json.RawMessage(`{}`),
					InferenceOutput: json.RawMessage(`{}`), Meta: json.RawMessage(`{}`), PerformedAt: at, ResolvableAt: at.Add(time.Minute),
				})
			}
		}
	}
	if _, err := s.SavePredictCycle(ctx, models, preds); err != nil {
		t.Fatalf("SavePredictCycle: %v", err)
	}
	if n, err := s.ClaimAndScore(ctx, t0.Add(time.Hour), 1000, scoreEach(0.5)); err != nil || n != len(preds) {
		t.Fatalf("ClaimAndScore = %d, %v; want %d", n, err, len(preds))
	}
	to := t0.Add(time.Hour)
	want := perSeries * len(scopes)
	// only checks that got holds want predictions of model m, each
	// prediction once.
	only := func(what, m string, got []store.Prediction) {
		t.Helper()
		seen := map[string]bool{}
		for _, p := range got {
			if p.ModelID != m || seen[p.ID] {
				t.Errorf("%s of model %s: found prediction %s of model %s (seen before: %v)", what, m, p.ID, p.ModelID, seen[p.ID])
			}
			seen[p.ID] = true
		}
		if len(got) != want {
			t.Errorf("%s of model %s: expected %d predictions, found %d", what, m, want, len(got))
		}
	}
	for _, m := range modelIDs {
		got, err := s.WindowPredictions(ctx, m, time.Time{}, time.Time{}, 0)
		if err != nil {
			t.Fatalf("WindowPredictions(%s): %v", m, err)
		}
		only("WindowPredictions", m, got)
		got, err = s.ListPredictions(ctx, store.PredictionQuery{ModelIDs: []string{m}})
		if err != nil {
			t.Fatalf("ListPredictions(%s): %v", m, err)
		}
		only("ListPredictions", m, got)
		for _, status := range []string{"", store.StatusSuccess} {
			q := store.SampleQuery{ModelIDs: []string{m}, From: t0, To: to, Status: status, Buckets: 1000}
			got, err := s.SamplePredictions(ctx, q)
			if err != nil {
				t.Fatalf("SamplePredictions(%s, status %q): %v", m, status, err)
			}
			only(fmt.Sprintf("SamplePredictions (status %q)", status), m, got)
			q, err = q.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			ms, ks, first, err := s.predictionSeries(ctx, q)
			if err != nil {
				t.Fatalf("predictionSeries(%s, status %q): %v", m, status, err)
			}
			if fmt.Sprint(ms) != fmt.Sprint([]string{m, m}) || fmt.Sprint(ks) != fmt.Sprint(scopes) || !first.Equal(t0) {
				t.Errorf("predictionSeries(%s, status %q): expected models [%s %s], scopes %v, first %s; found %v, %v, %s", m, status, m, m, scopes, t0, ms, ks, first)
			}
		}
	}
}
