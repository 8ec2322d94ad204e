package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestScoreIndexPlans: ModelScoreStats, WindowPredictions and
// ListPredictions of one model (a page of the report API) read the
// indexes of migrations 00019 and 00021 (ix_predictions_resolvable_at; for
// one model of ten an index led by hashtext(model_id) or that one), not
// the whole table, on 4,000 predictions of which half are scored (the
// scores of so few are read whole and hashed), and the claim queue keeps
// only the instants not scored.
func TestScoreIndexPlans(t *testing.T) {
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
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE predictions, prediction_scores`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, index string
		query       func() (string, []any)
	}{
		{"ModelScoreStats", "ix_predictions_resolvable_at", func() (string, []any) {
			return modelScoreStatsQuery([]time.Time{t0.Add(90 * time.Minute), t0.Add(time.Hour)}, t0.Add(2*time.Hour))
		}},
		{"WindowPredictions", "ix_predictions_", func() (string, []any) {
			return windowPredictionsQuery("m03", t0.Add(time.Hour), t0.Add(2*time.Hour), 1000)
		}},
		// The report API's page of one model over a window holding every
		// prediction (its 30-day default): an index led by the model's hash
		// (ix_predictions_model_hash_resolvable or ix_predictions_series_hash).
		{"ListPredictions with ModelIDs", "_hash", func() (string, []any) {
			q, err := store.PredictionQuery{ModelIDs: []string{"m03"}, From: t0, To: t0.Add(400 * time.Minute), Limit: 100, Offset: 100}.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			return listPredictionsQuery(q)
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
		if text := strings.Join(plan, "\n"); !strings.Contains(text, tc.index) || strings.Contains(text, "Seq Scan on predictions") {
			t.Errorf("%s: expected a plan reading %s and no Seq Scan of predictions, found:\n%s", tc.name, tc.index, strings.Join(plan, "\n"))
		}
	}
	var queued int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM score_queue`).Scan(&queued); err != nil || queued != 200 {
		t.Errorf("score_queue: %d instants, %v; want the 200 not scored (of 400, 10 predictions each)", queued, err)
	}
}

// TestScoresNeverRewritePredictions: a score is a row of prediction_scores
// (migration 00019): storing cycles and scoring them, as the workers do,
// updates no row of predictions (a trigger logs any UPDATE), and the claim
// queue is left with the one instant not due yet.
func TestScoresNeverRewritePredictions(t *testing.T) {
	s := benchStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `CREATE TABLE updates_seen (id varchar);
CREATE FUNCTION log_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO updates_seen VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER log_update AFTER UPDATE ON predictions FOR EACH ROW EXECUTE FUNCTION log_update()`); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const minutes, perMinute = 30, 10
	scored := 0
	for i := range minutes {
		cycle := benchPredictions(fmt.Sprintf("ins%03d", i), perMinute, t0.Add(time.Duration(i)*time.Minute))
		if _, err := s.SavePredictCycle(ctx, nil, cycle); err != nil {
			t.Fatal(err)
		}
		n, err := s.ClaimAndScore(ctx, t0.Add(time.Duration(i)*time.Minute), 1000, scoreEach(0.5))
		if err != nil {
			t.Fatal(err)
		}
		scored += n
	}
	if scored != (minutes-1)*perMinute {
		t.Fatalf("scored %d predictions; want %d", scored, (minutes-1)*perMinute)
	}
	var updated, scores, queued int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM updates_seen), (SELECT count(*) FROM prediction_scores), (SELECT count(*) FROM score_queue)`).Scan(&updated, &scores, &queued); err != nil {
		t.Fatal(err)
	}
	if updated != 0 || scores != scored || queued != 1 {
		t.Errorf("%d prediction rows updated, %d rows of prediction_scores, %d queued instants; want 0, %d, 1", updated, scores, queued, scored)
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
