package postgres

import (
	"context"
	"encoding/json"
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
	if _, err := s.pool.Exec(ctx, `INSERT INTO inputs (id, input_jsonb, created_at) VALUES ($1, $2::jsonb, now())`, store.InputID([]byte(text)), text); err != nil {
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
