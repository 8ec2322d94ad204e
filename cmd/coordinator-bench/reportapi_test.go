package main

import (
	"context"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/postgres"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// TestGenerateReportRows runs the report API section's bulk load at a
// small size against a migrated scratch schema (TEST_DATABASE_URL), so a
// schema change the COPY or the score INSERT does not follow fails here and
// not only in a full `make bench`: every prediction is stored, scored with
// the value generated for it, and found by SamplePredictions.
func TestGenerateReportRows(t *testing.T) {
	const models, n = 3, 30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, testutil.ScratchSchema(t, "coordinator_bench_test"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := generateReportRows(ctx, st, models, n); err != nil {
		t.Fatalf("generateReportRows(%d models, %d predictions): %v", models, n, err)
	}
	end := apiStart.Add(time.Duration(n/models) * apiSlotEvery)
	preds, err := st.ListPredictions(ctx, store.PredictionQuery{From: apiStart, To: end, ScoredOnly: true})
	if err != nil {
		t.Fatalf("ListPredictions: %v", err)
	}
	if len(preds) != n {
		t.Fatalf("expected %d scored predictions, found %d", n, len(preds))
	}
	for _, p := range preds {
		if p.Score == nil || p.Score.Value == nil || !p.Score.Success || !p.Score.ScoredAt.Equal(p.ResolvableAt) {
			t.Fatalf("prediction %s: expected a successful score at its resolvable_at %s, found %+v", p.ID, p.ResolvableAt, p.Score)
		}
	}
	sample, err := st.SamplePredictions(ctx, store.SampleQuery{From: apiStart, To: end, Buckets: 1})
	if err != nil {
		t.Fatalf("SamplePredictions: %v", err)
	}
	if len(sample) != models {
		t.Fatalf("expected one sampled prediction per model (%d), found %d", models, len(sample))
	}
}
