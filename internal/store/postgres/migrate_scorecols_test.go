package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// scoresLayout returns the position of column col of prediction_scores
// (prediction_id: 1 in 00019's order, 5 in 00020's; prediction_seq: 1 in
// 00022's; 0 when absent) and the name of the table's primary key
// constraint.
func scoresLayout(ctx context.Context, t *testing.T, s *Store, col string) (int, string) {
	t.Helper()
	var pos int
	var pkey string
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT attnum FROM pg_attribute WHERE attrelid = 'prediction_scores'::regclass AND attname = $1 AND NOT attisdropped), 0),
    (SELECT conname FROM pg_constraint WHERE conrelid = 'prediction_scores'::regclass AND contype = 'p')`, col).Scan(&pos, &pkey); err != nil {
		t.Fatal(err)
	}
	return pos, pkey
}

// TestPredictionScoresColumnsMigration: scores written at version 20
// (scored, failed with a reason and no value) and pending predictions read
// back the same after 00022's and 00020's Downs (00019's column order) and
// Migrate's Ups (the store's statements are those of the latest version,
// so nothing is read in between); both directions run twice without
// harm, the primary key keeps its name, and the pending predictions are
// claimed once each afterwards.
func TestPredictionScoresColumnsMigration(t *testing.T) {
	s, _ := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	models := []store.Model{{ID: "m1", Name: "m1", DeploymentID: "d", PlayerID: "p", PlayerName: "P"}}
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	var preds []store.Prediction
	for i := range 6 {
		preds = append(preds, store.Prediction{ID: fmt.Sprintf("PRE_%02d", i), ModelID: "m1", ScopeKey: "BTC", Status: store.StatusSuccess,
			InferenceInput: json.RawMessage(`{"close":[1]}`), InferenceOutput: json.RawMessage(`{"p_up":0.5}`),
			PerformedAt: at.Add(time.Duration(i) * time.Minute), ResolvableAt: at.Add(time.Duration(i+1) * time.Minute)})
	}
	if _, err := s.SavePredictCycle(ctx, models, preds); err != nil {
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
				if i == 1 {
					out[i].Score = &store.Score{FailedReason: "bad output"}
				}
			}
			return out, nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := claim(at.Add(3 * time.Minute)); len(got) != 3 {
		t.Fatalf("first claim: %v; want PRE_00..PRE_02", got)
	}
	before := readScores(ctx, t, s)
	if n := len(before.all); n != 6 {
		t.Fatalf("ListPredictions: %d rows; want 6", n)
	}
	// (The store's statements are those of version 22, whose Down restores
	// 00020's table: nothing is read before Migrate again.)
	downTo(ctx, t, s, "00022_prediction_scores_seq.sql", 22)
	if pos, pkey := scoresLayout(ctx, t, s, "prediction_id"); pos != 5 || pkey != "prediction_scores_pkey" {
		t.Fatalf("at version 21: prediction_id is column %d, primary key %q; want 5, prediction_scores_pkey", pos, pkey)
	}
	downTo(ctx, t, s, "00020_prediction_scores_columns.sql", 20)
	downTo(ctx, t, s, "00020_prediction_scores_columns.sql", 20) // guarded: a no-op
	if pos, pkey := scoresLayout(ctx, t, s, "prediction_id"); pos != 1 || pkey != "prediction_scores_pkey" {
		t.Fatalf("after 00020's Down: prediction_id is column %d, primary key %q; want 1, prediction_scores_pkey", pos, pkey)
	}
	for range 2 { // Up, then Up again on the migrated table: a no-op
		if _, err := s.pool.Exec(ctx, `DELETE FROM `+versionTable+` WHERE version_id >= 20`); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if pos, pkey := scoresLayout(ctx, t, s, "prediction_seq"); pos != 1 || pkey != "prediction_scores_pkey" {
			t.Fatalf("after Migrate: prediction_seq is column %d, primary key %q; want 1 (00022's table), prediction_scores_pkey", pos, pkey)
		}
		if got := readScores(ctx, t, s); !reflect.DeepEqual(got, before) {
			t.Errorf("reads after Migrate:\n%+v\nwant\n%+v", got, before)
		}
	}
	if got := claim(at.Add(time.Hour)); !reflect.DeepEqual(got, []string{"PRE_03", "PRE_04", "PRE_05"}) {
		t.Errorf("claim after the migration: %v; want PRE_03..PRE_05", got)
	}
	if got := claim(at.Add(time.Hour)); got != nil {
		t.Errorf("second claim: %v; want none", got)
	}
}
