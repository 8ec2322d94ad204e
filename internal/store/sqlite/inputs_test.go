package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// TestInputsWrittenBefore00006: a row of inputs written before migration
// 00006 (its JSON text in input_jsonb, codec 0 by default) reads back
// byte for byte, and a cycle that carries the same input references it
// instead of storing it again.
func TestInputsWrittenBefore00006(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "coordinator.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	text := `{"candles":[{"close":23140.48},{"close":23141.5}],"old":true}`
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO inputs (id, input_jsonb, created_at) VALUES (?, ?, 0)`, store.InputID([]byte(text)), text); err != nil {
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
	for _, s := range []*sqlite.Store{s, reopen(t, ctx, path)} {
		got, err := s.ListPredictions(ctx, store.PredictionQuery{})
		if err != nil || len(got) != 1 {
			t.Fatalf("ListPredictions = %d rows, %v", len(got), err)
		}
		if string(got[0].InferenceInput) != text {
			t.Fatalf("input read back as %s, want %s", got[0].InferenceInput, text)
		}
	}
}

func reopen(t *testing.T, ctx context.Context, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestGroundTruthsStoredOnce: the ground truth shared by every model's
// prediction of a slot is one row of ground_truths (00008), and a
// prediction scored before 00008 (its ground truth inline) reads back
// unchanged.
func TestGroundTruthsStoredOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "coordinator.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
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
	truth := json.RawMessage(`{"entry_price":23142.31,"resolved_price":23137.77,"y":0}`)
	oldTruth := `{"entry_price":1,"y":1}`
	n, err := s.ClaimAndScore(ctx, at.Add(time.Hour), 10, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
		var out []store.ScoreUpdate
		for _, p := range ps {
			if p.ModelID != "old" {
				v := 0.75
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}, GroundTruth: truth})
			}
		}
		return out, nil
	})
	if err != nil || n != 4 {
		t.Fatalf("ClaimAndScore = %d, %v", n, err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// As a pre-00008 score worker wrote it.
	if _, err := db.ExecContext(ctx, `UPDATE predictions SET ground_truth_jsonb = ?, score_value = 1, score_success = 1, score_scored_at = 1 WHERE id = 'PRE_old'`, oldTruth); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ground_truths`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("ground_truths holds %d rows, %v; want 1 for 3 predictions", rows, err)
	}
	got, err := s.ListPredictions(ctx, store.PredictionQuery{})
	if err != nil || len(got) != 4 {
		t.Fatalf("ListPredictions = %d, %v", len(got), err)
	}
	for _, p := range got {
		want := string(truth)
		if p.ModelID == "old" {
			want = oldTruth
		}
		if string(p.GroundTruth) != want {
			t.Errorf("%s ground truth %s, want %s", p.ID, p.GroundTruth, want)
		}
	}
}
