package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestCountedIndexPlans: ModelScoreStats and WindowPredictions read the
// partial indexes of migration 00016 (their WHERE names countedPredicate,
// which the planner must prove implies the indexes' predicate: the texts
// must stay the same), on 4,000 predictions of which half are scored, and
// the indexes hold only the scored half.
func TestCountedIndexPlans(t *testing.T) {
	s := benchStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	preds := benchPredictions("plan", 4000, t0)
	if _, err := s.SavePredictCycle(ctx, nil, preds); err != nil {
		t.Fatal(err)
	}
	n, err := s.ClaimAndScore(ctx, t0.Add(201*time.Minute), 2000, scoreEach(0.5))
	if err != nil || n != 2000 {
		t.Fatalf("ClaimAndScore = %d, %v; want 2000", n, err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE predictions`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, index string
		query       func() (string, []any)
	}{
		{"ModelScoreStats", "Index Only Scan using idx_predictions_window_stats", func() (string, []any) {
			return modelScoreStatsQuery([]time.Time{t0.Add(90 * time.Minute), t0.Add(time.Hour)}, t0.Add(2*time.Hour))
		}},
		{"WindowPredictions", "idx_predictions_model_resolvable", func() (string, []any) {
			return windowPredictionsQuery("m03", t0.Add(time.Hour), t0.Add(2*time.Hour), 1000)
		}},
	} {
		sql, args := tc.query()
		rows, err := s.pool.Query(ctx, `EXPLAIN `+sql, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(plan, "\n"), tc.index) {
			t.Errorf("%s: expected a plan reading %s, found:\n%s", tc.name, tc.index, strings.Join(plan, "\n"))
		}
	}
	for _, idx := range []string{"idx_predictions_window_stats", "idx_predictions_model_resolvable"} {
		var entries int64
		if err := s.pool.QueryRow(ctx, `SELECT reltuples::bigint FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`, idx).Scan(&entries); err != nil {
			t.Fatal(err)
		}
		if entries != 2000 {
			t.Errorf("%s: expected the 2000 scored predictions, found %d entries", idx, entries)
		}
	}
}

// scoreEach returns a ClaimAndScore callback giving every claimed
// prediction a successful score of v.
func scoreEach(v float64) func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
	return func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		out := make([]store.ScoreUpdate, len(claimed))
		for i, p := range claimed {
			out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}}
		}
		return out, nil
	}
}
