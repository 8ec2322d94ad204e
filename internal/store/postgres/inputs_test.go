package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestInputsWrittenBefore00006: a row of inputs written before migration
// 00006 (its JSON in input_jsonb, codec 0 by default, data NULL) reads
// back as the same JSON value (jsonb renders it), and a cycle that carries
// the same input references it instead of storing it again.
func TestInputsWrittenBefore00006(t *testing.T) {
	s, dbURL := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	text := `{"candles":[{"close":23140.48},{"close":23141.5}],"old":true}`
	if _, err := s.pool.Exec(ctx, `INSERT INTO inputs (id, input_jsonb, created_at) VALUES ($1::uuid, $2::jsonb, now())`, inputHex(store.InputID([]byte(text))), text); err != nil {
		t.Fatalf("insert a pre-00006 row: %v", err)
	}
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	p := store.Prediction{ID: "PRE_1", ModelID: "m1", ScopeKey: "BTC", Status: store.StatusSuccess,
		InferenceInput: json.RawMessage(text), InferenceOutput: json.RawMessage(`{"p_up":0.5}`), PerformedAt: at, ResolvableAt: at.Add(time.Minute)}
	if _, err := s.SavePredictCycle(ctx, []store.Model{{ID: "m1", Name: "m1", DeploymentID: "d", PlayerID: "p", PlayerName: "P"}}, []store.Prediction{p}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountInputs(ctx); err != nil || n != 1 {
		t.Fatalf("CountInputs = %d, %v; want 1", n, err)
	}
	for _, s := range []*Store{s, openDB(t, dbURL)} {
		got, err := s.ListPredictions(ctx, store.PredictionQuery{})
		if err != nil || len(got) != 1 {
			t.Fatalf("ListPredictions = %d rows, %v", len(got), err)
		}
		var a, b any
		if err := json.Unmarshal(got[0].InferenceInput, &a); err != nil {
			t.Fatalf("input read back as %s: %v", got[0].InferenceInput, err)
		}
		_ = json.Unmarshal([]byte(text), &b)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Fatalf("input read back as %s, want %s", got[0].InferenceInput, text)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGroundTruthsStoredOnce: the ground truth shared by every model's
// prediction of a slot is one row of ground_truths (00008), and a
// prediction scored before 00008 (its ground truth inline) reads back
// unchanged.
func TestGroundTruthsStoredOnce(t *testing.T) {
	s, _ := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	var preds []store.Prediction
	var models []store.Model
	for _, m := range []string{"m1", "m2", "m3", "old"} {
		models = append(models, store.Model{ID: m, Name: m, DeploymentID: "d", PlayerID: "p", PlayerName: "P"})
		preds = append(preds, store.Prediction{ID: "PRE_" + m, ModelID: m, ScopeKey: "BTC", Status: store.StatusSuccess,
			InferenceInput: json.RawMessage(`{"close":[1]}`), InferenceOutput: json.RawMessage(`{"p_up":0.5}`), PerformedAt: at, ResolvableAt: at.Add(time.Minute)})
	}
	if _, err := s.SavePredictCycle(ctx, models, preds); err != nil {
		t.Fatal(err)
	}
	truth := `{"y": 0, "entry_price": 23142.31}` // as jsonb renders it
	n, err := s.ClaimAndScore(ctx, at.Add(time.Hour), 10, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
		var out []store.ScoreUpdate
		for _, p := range ps {
			if p.ModelID != "old" {
				v := 0.75
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}, GroundTruth: json.RawMessage(truth)})
			}
		}
		return out, nil
	})
	if err != nil || n != 4 {
		t.Fatalf("ClaimAndScore = %d, %v", n, err)
	}
	oldTruth := `{"y": 1, "entry_price": 1}`
	if _, err := s.pool.Exec(ctx, `UPDATE predictions SET ground_truth_jsonb = $1::jsonb WHERE id = 'PRE_old'`, oldTruth); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO prediction_scores (prediction_seq, value, success, scored_at) SELECT seq, 1, true, now() FROM predictions WHERE id = 'PRE_old'`); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ground_truths`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("ground_truths holds %d rows, %v; want 1 for 3 predictions", rows, err)
	}
	got, err := s.ListPredictions(ctx, store.PredictionQuery{})
	if err != nil || len(got) != 4 {
		t.Fatalf("ListPredictions = %d, %v", len(got), err)
	}
	for _, p := range got {
		want := truth
		if p.ModelID == "old" {
			want = oldTruth
		}
		if string(p.GroundTruth) != want {
			t.Errorf("%s ground truth %s, want %s", p.ID, p.GroundTruth, want)
		}
	}
}

// TestInputUUIDMigration: predictions and inputs written before 00015
// (their input ids as "INP_..." text: the schema its Down restores) read
// back the same after Migrate converts the ids to uuid, with the same input
// ids and inputs, and a new cycle sharing an input still references it.
func TestInputUUIDMigration(t *testing.T) {
	s, dbURL := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	models := []store.Model{{ID: "m1", Name: "m1", DeploymentID: "d", PlayerID: "p", PlayerName: "P"}}
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	var preds []store.Prediction
	for i := range 40 { // more than one keyframe interval: deltas with a base_id
		in := fmt.Sprintf(`{"candles":[{"close":%d.5},{"close":23141.5}],"i":%d}`, 23000+i, i)
		preds = append(preds, store.Prediction{ID: fmt.Sprintf("PRE_%02d", i), ModelID: "m1", ScopeKey: "BTC", Status: store.StatusSuccess,
			InferenceInput: json.RawMessage(in), InferenceOutput: json.RawMessage(`{"p_up":0.5}`),
			PerformedAt: at.Add(time.Duration(i) * time.Minute), ResolvableAt: at.Add(time.Duration(i+1) * time.Minute)})
	}
	for i := range preds {
		if _, err := s.SavePredictCycle(ctx, models, preds[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	before, err := openDB(t, dbURL).ListPredictions(ctx, store.PredictionQuery{})
	if err != nil || len(before) != len(preds) {
		t.Fatalf("ListPredictions before = %d rows, %v", len(before), err)
	}
	// Back to version 14: the Down of 00015 (after 00019's, 00017's and 00016's).
	downTo(ctx, t, s, "00019_insert_only_scores.sql", 19)
	downTo(ctx, t, s, "00017_ground_truth_uuid.sql", 17)
	downTo(ctx, t, s, "00016_counted_prediction_indexes.sql", 16)
	downTo(ctx, t, s, "00015_input_uuid.sql", 15)
	downTo(ctx, t, s, "00015_input_uuid.sql", 15) // re-runnable: ids not prefixed twice
	var text string
	if err := s.pool.QueryRow(ctx, `SELECT input_id FROM predictions WHERE id = 'PRE_00'`).Scan(&text); err != nil || text != store.InputID(preds[0].InferenceInput) {
		t.Fatalf("input_id at version 14 = %q, %v; want %q", text, err, store.InputID(preds[0].InferenceInput))
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	fresh := openDB(t, dbURL)
	after, err := fresh.ListPredictions(ctx, store.PredictionQuery{})
	if err != nil || len(after) != len(before) {
		t.Fatalf("ListPredictions after = %d rows, %v", len(after), err)
	}
	for i := range after {
		if after[i].InputID != store.InputID(preds[i].InferenceInput) || after[i].InputID != before[i].InputID || string(after[i].InferenceInput) != string(before[i].InferenceInput) {
			t.Errorf("prediction %s after 00015: input %s %s, want %s %s", after[i].ID, after[i].InputID, after[i].InferenceInput, before[i].InputID, before[i].InferenceInput)
		}
	}
	again := preds[3]
	again.ID = "PRE_again"
	if _, err := fresh.SavePredictCycle(ctx, models, []store.Prediction{again}); err != nil {
		t.Fatal(err)
	}
	if n, err := fresh.CountInputs(ctx); err != nil || n != int64(len(preds)) {
		t.Fatalf("CountInputs = %d, %v; want %d (the repeated input stored once)", n, err, len(preds))
	}
}
