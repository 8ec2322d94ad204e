package postgres

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// scoreReads is what the reads of scores return: every prediction
// (ListPredictions), the window of model m1 (WindowPredictions) and its
// aggregates (ModelScoreStats).
type scoreReads struct {
	all, window []store.Prediction
	stats       []store.ModelScoreStat
}

func readScores(ctx context.Context, t *testing.T, s *Store) scoreReads {
	t.Helper()
	var r scoreReads
	var err error
	if r.all, err = s.ListPredictions(ctx, store.PredictionQuery{}); err != nil {
		t.Fatal(err)
	}
	if r.window, err = s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if r.stats, err = s.ModelScoreStats(ctx, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestInsertOnlyScoresMigration: predictions scored, failed, pending,
// UNRESOLVED (a reason and a ground truth without a score), non-answers and
// stored with their score, written at version 18 (the schema 00019's Down
// restores: the scores in the columns of predictions), read back the same
// after Migrate moves the scores to prediction_scores; the pending ones
// are claimed once each, when due, and nothing else is. 00019's Down and
// Up both run twice without harm.
func TestInsertOnlyScoresMigration(t *testing.T) {
	s, dbURL := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	downTo(ctx, t, s, "00019_insert_only_scores.sql", 19)
	downTo(ctx, t, s, "00019_insert_only_scores.sql", 19) // guarded: a no-op
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	v := 0.25
	// The schema of version 18 is written to directly: the store's
	// statements are those of version 19.
	if _, err := s.pool.Exec(ctx, `INSERT INTO models (id, name, deployment_identifier, player_id, player_name, meta_jsonb, created_at, updated_at)
VALUES ('m1', 'm1', 'd', 'p', 'P', '{}', now(), now()), ('m2', 'm2', 'd', 'p', 'P', '{}', now(), now());
INSERT INTO ground_truths (id, truth_jsonb) VALUES ('00000000-0000-0000-0000-000000000001', '{"y": 1}'), ('00000000-0000-0000-0000-000000000002', '{"y": 0}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO predictions (id, model_id, scope_key, status, exec_time_ms, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at,
    score_value, score_success, score_failed_reason, score_scored_at, ground_truth_id) VALUES
('A', 'm1', 'BTC', 'SUCCESS', 1, '{"p": 1}', '{}', $1::timestamptz, $1::timestamptz + interval '1 minute', $2, true, NULL, $1::timestamptz + interval '2 minutes', '00000000-0000-0000-0000-000000000001'),
('B', 'm1', 'BTC', 'SUCCESS', 1, '{"p": 2}', '{}', $1, $1::timestamptz + interval '1 minute', NULL, false, 'bad output', $1::timestamptz + interval '2 minutes', NULL),
('C', 'm1', 'BTC', 'SUCCESS', 1, '{"p": 3}', '{}', $1::timestamptz + interval '1 minute', $1::timestamptz + interval '2 minutes', NULL, NULL, NULL, NULL, NULL),
('D', 'm2', 'BTC', 'UNRESOLVED', 1, '{"p": 4}', '{}', $1, $1::timestamptz + interval '1 minute', NULL, NULL, 'no ground truth', NULL, '00000000-0000-0000-0000-000000000002'),
('E', 'm1', 'BTC', 'ABSENT', 0, '{}', '{}', $1, $1::timestamptz + interval '1 minute', NULL, NULL, NULL, NULL, NULL),
('F', 'm1', 'BTC', 'SUCCESS', 1, '{"p": 5}', '{}', $1::timestamptz + interval '1 hour', $1::timestamptz + interval '2 hours', NULL, NULL, NULL, NULL, NULL),
('G', 'm2', 'BTC', 'FAILED', 1, '{}', '{}', $1, $1::timestamptz + interval '1 minute', NULL, false, 'failed', $1::timestamptz + interval '2 minutes', NULL)`, t0, v); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var scores, queued int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM prediction_scores), (SELECT count(*) FROM score_queue)`).Scan(&scores, &queued); err != nil || scores != 3 || queued != 2 {
		t.Fatalf("after Migrate: %d scores, %d queued instants, %v; want 3 (A, B, G), 2 (C's, F's)", scores, queued, err)
	}
	// Back to version 20 (the schema 00019 and 00020 leave), then 00019's
	// Up again on it.
	downTo(ctx, t, s, "00021_hashed_model_indexes.sql", 21)
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+versionTable+` WHERE version_id >= 19`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil { // Up again on the migrated schema: a no-op
		t.Fatalf("Migrate again: %v", err)
	}
	after := readScores(ctx, t, openDB(t, dbURL))
	byID := map[string]store.Prediction{}
	for _, p := range after.all {
		byID[p.ID] = p
	}
	if a := byID["A"]; a.Score == nil || a.Score.Value == nil || *a.Score.Value != v || !a.Score.Success || string(a.GroundTruth) != `{"y": 1}` ||
		!a.Score.ScoredAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("A after the migration: %+v score %+v", a, a.Score)
	}
	if b := byID["B"]; b.Score == nil || b.Score.Success || b.Score.FailedReason != "bad output" || b.Score.Value != nil {
		t.Errorf("B after the migration: score %+v", b.Score)
	}
	if d := byID["D"]; d.Score != nil || d.Status != store.StatusUnresolved || string(d.GroundTruth) != `{"y": 0}` {
		t.Errorf("D after the migration: %+v", d)
	}
	for _, id := range []string{"C", "E", "F"} {
		if byID[id].Score != nil {
			t.Errorf("%s after the migration: scored %+v", id, byID[id].Score)
		}
	}
	// The same through version 18's columns: 00019's Down, then Migrate.
	downTo(ctx, t, s, "00019_insert_only_scores.sql", 19)
	var inColumns int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM predictions WHERE score_scored_at IS NOT NULL OR score_success IS NOT NULL`).Scan(&inColumns); err != nil || inColumns != 3 {
		t.Fatalf("after 00019's Down: %d scores in the columns of predictions, %v; want 3", inColumns, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after Down: %v", err)
	}
	if again := readScores(ctx, t, s); !reflect.DeepEqual(again, after) {
		t.Errorf("reads after Down and Up:\n%+v\nwant\n%+v", again, after)
	}
	if len(after.stats) != 2 || after.stats[0].ModelID != "m1" || after.stats[0].Count != 1 || after.stats[0].NonAnswers != 2 ||
		after.stats[1].ModelID != "m2" || after.stats[1].Count != 0 || after.stats[1].NonAnswers != 1 {
		t.Errorf("ModelScoreStats after the migration: %+v; want m1 with 1 answered (A) and 2 non-answers (B, E), m2 with 0 and 1 (G; D is not counted)", after.stats)
	}
	var window []string
	for _, p := range after.window {
		window = append(window, p.ID)
	}
	if !reflect.DeepEqual(window, []string{"A", "B", "E"}) {
		t.Errorf("WindowPredictions(m1) after the migration: %v; want [A B E]", window)
	}
	// The pending predictions are claimed once each, when due.
	claim := func(now time.Time) []string {
		t.Helper()
		var got []string
		if _, err := s.ClaimAndScore(ctx, now, 10, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
			out := make([]store.ScoreUpdate, len(ps))
			for i, p := range ps {
				got = append(got, p.ID)
				out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}, GroundTruth: json.RawMessage(`{"y": 1}`)}
			}
			return out, nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := claim(t0.Add(time.Hour)); !reflect.DeepEqual(got, []string{"C"}) {
		t.Errorf("claim at +1h: %v; want [C]", got)
	}
	if got := claim(t0.Add(time.Hour)); got != nil {
		t.Errorf("second claim at +1h: %v; want none", got)
	}
	if got := claim(t0.Add(3 * time.Hour)); !reflect.DeepEqual(got, []string{"F"}) {
		t.Errorf("claim at +3h: %v; want [F]", got)
	}
}
