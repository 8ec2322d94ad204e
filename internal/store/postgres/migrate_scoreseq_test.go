package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestPredictionScoresSeqMigration: predictions scored (by the claim and
// with their prediction), failed with a reason, UNRESOLVED, pending and in
// two scopes, written at the latest version, read back the same (every
// prediction, the window of m1, the score stats, a sample of both scopes)
// after 00022's and 00021's Downs (the scores keyed by the text id again,
// the text indexes) and Migrate's Ups; both directions run twice without
// harm, and the pending predictions are claimed once each
// afterwards. A score whose prediction is missing fails 00022's Up, naming
// it.
func TestPredictionScoresSeqMigration(t *testing.T) {
	s, _ := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	models := []store.Model{{ID: "m1", Name: "m1", DeploymentID: "d", PlayerID: "p", PlayerName: "P"},
		{ID: "m2", Name: "m2", DeploymentID: "d", PlayerID: "p", PlayerName: "P"}}
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	var preds []store.Prediction
	for i := range 8 {
		p := store.Prediction{ID: fmt.Sprintf("PRE_%02d", i), ModelID: models[i%2].ID, ScopeKey: []string{"BTC", "ETH"}[i/4], Status: store.StatusSuccess,
			InferenceInput: json.RawMessage(`{"close":[1]}`), InferenceOutput: json.RawMessage(`{"p_up":0.5}`),
			PerformedAt: at.Add(time.Duration(i) * time.Minute), ResolvableAt: at.Add(time.Duration(i+1) * time.Minute)}
		preds = append(preds, p)
	}
	if _, err := s.SavePredictCycle(ctx, models, preds); err != nil {
		t.Fatal(err)
	}
	v := 0.75
	withScore := store.Prediction{ID: "PRE_scored", ModelID: "m2", ScopeKey: "BTC", Status: store.StatusSuccess,
		InferenceOutput: json.RawMessage(`{"p_up":0.1}`), PerformedAt: at, ResolvableAt: at.Add(time.Minute),
		Score: &store.Score{Value: &v, Success: true, ScoredAt: at.Add(2 * time.Minute)}}
	if _, err := s.SavePredictCycle(ctx, nil, []store.Prediction{withScore}); err != nil {
		t.Fatal(err)
	}
	claim := func(until time.Time) []string {
		t.Helper()
		var got []string
		if _, err := s.ClaimAndScore(ctx, until, 10, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
			out := make([]store.ScoreUpdate, len(ps))
			for i, p := range ps {
				got = append(got, p.ID)
				v := 0.25 * float64(i)
				out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}, GroundTruth: json.RawMessage(`{"y": 1}`)}
				switch i {
				case 1:
					out[i].Score = &store.Score{FailedReason: "bad output"}
				case 2:
					out[i] = store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: "no ground truth"}
				}
			}
			return out, nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := claim(at.Add(4 * time.Minute)); len(got) != 4 {
		t.Fatalf("first claim: %v; want PRE_00..PRE_03", got)
	}
	type reads struct {
		scoreReads
		sample []store.Prediction
	}
	read := func() reads {
		t.Helper()
		r := reads{scoreReads: readScores(ctx, t, s)}
		var err error
		if r.sample, err = s.SamplePredictions(ctx, store.SampleQuery{From: at, To: at.Add(time.Hour), Buckets: 4}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := read()
	if len(before.all) != 9 || len(before.window) != 1 || len(before.sample) == 0 {
		t.Fatalf("before: %d predictions, %d in m1's window, %d sampled; want 9, 1 (PRE_00; PRE_02 is UNRESOLVED), some", len(before.all), len(before.window), len(before.sample))
	}
	layout := func(want string) {
		t.Helper()
		var col string
		var indexes []string
		if err := s.pool.QueryRow(ctx, `SELECT (SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.conrelid = 'prediction_scores'::regclass AND c.contype = 'p' AND c.conname = 'prediction_scores_pkey'),
    ARRAY(SELECT indexname::text FROM pg_indexes WHERE tablename = 'predictions' AND (indexname LIKE '%model%' OR indexname LIKE '%series%') ORDER BY 1)`).Scan(&col, &indexes); err != nil {
			t.Fatal(err)
		}
		if got := col + " " + strings.Join(indexes, " "); got != want {
			t.Fatalf("prediction_scores_pkey column and model indexes: %q; want %q", got, want)
		}
	}
	const latest = "prediction_seq ix_predictions_model_hash_resolvable ix_predictions_series_hash ix_predictions_series_unusual"
	layout(latest)
	downTo(ctx, t, s, "00022_prediction_scores_seq.sql", 22)
	downTo(ctx, t, s, "00022_prediction_scores_seq.sql", 22) // guarded: a no-op
	downTo(ctx, t, s, "00021_hashed_model_indexes.sql", 21)
	downTo(ctx, t, s, "00021_hashed_model_indexes.sql", 21) // re-runnable
	layout("prediction_id idx_predictions_series ix_predictions_model_resolvable")
	// (The store's statements are those of version 22: nothing is read at
	// version 20.)
	for range 2 { // Up, then Up again on the migrated schema: a no-op
		if _, err := s.pool.Exec(ctx, `DELETE FROM `+versionTable+` WHERE version_id >= 21`); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		layout(latest)
		if got := read(); !reflect.DeepEqual(got, before) {
			t.Errorf("reads after Migrate:\n%+v\nwant\n%+v", got, before)
		}
	}
	if got := claim(at.Add(time.Hour)); !reflect.DeepEqual(got, []string{"PRE_04", "PRE_05", "PRE_06", "PRE_07"}) {
		t.Errorf("claim after the migration: %v; want PRE_04..PRE_07", got)
	}
	if got := claim(at.Add(time.Hour)); got != nil {
		t.Errorf("second claim: %v; want none", got)
	}
	// A score without its prediction is not dropped silently.
	downTo(ctx, t, s, "00022_prediction_scores_seq.sql", 22)
	if _, err := s.pool.Exec(ctx, `INSERT INTO prediction_scores (prediction_id, value, success) VALUES ('PRE_gone', 1, true)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "PRE_gone") {
		t.Errorf("Migrate with an orphan score: %v; want an error naming PRE_gone", err)
	}
	// Nor by 00022's Down.
	if _, err := s.pool.Exec(ctx, `DELETE FROM prediction_scores WHERE prediction_id = 'PRE_gone'`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO prediction_scores (prediction_seq, value, success) VALUES (987654321, 1, true)`); err != nil {
		t.Fatal(err)
	}
	text, err := migrationFiles.ReadFile("migrations/00022_prediction_scores_seq.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, _ := strings.Cut(string(text), "-- +goose Down")
	if _, err := s.pool.Exec(ctx, down); err == nil || !strings.Contains(err.Error(), "987654321") {
		t.Errorf("00022 Down with an orphan score: %v; want an error naming seq 987654321", err)
	}
}
