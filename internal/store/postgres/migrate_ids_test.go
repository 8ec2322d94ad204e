package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// downTo runs the Down sections of the applied migrations newer than
// version, newest first, then the Down section of the migration file name
// (version's; run even when already undone, to show it is re-runnable),
// and removes the goose version rows from version on, so that the next
// Migrate applies them again to the data written since.
func downTo(ctx context.Context, t *testing.T, s *Store, name string, version int) {
	t.Helper()
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: expected a numbered file name: %v", e.Name(), err)
		}
		var applied bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+versionTable+` WHERE version_id = $1 AND is_applied)`, n).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if n > version && applied {
			names = append(names, e.Name())
		}
	}
	slices.Reverse(names)
	for _, n := range append(names, name) {
		text, err := migrationFiles.ReadFile("migrations/" + n)
		if err != nil {
			t.Fatal(err)
		}
		_, down, ok := strings.Cut(string(text), "-- +goose Down")
		if !ok {
			t.Fatalf("%s: no Down section", n)
		}
		if _, err := s.pool.Exec(ctx, down); err != nil {
			t.Fatalf("%s Down: %v", n, err)
		}
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE version_id >= %d`, versionTable, version)); err != nil {
		t.Fatal(err)
	}
}

// TestGroundTruthUUIDMigration: ground truths recorded before 00017 (ids
// as base64url text: the schema its Down restores) read back the same
// after Migrate converts the ids to uuid, and a ground truth scored again
// afterwards finds its converted row (truthHex agrees with the migration's
// conversion).
func TestGroundTruthUUIDMigration(t *testing.T) {
	s, dbURL := openMigrated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	models := []store.Model{{ID: "m1", Name: "m1", DeploymentID: "d", PlayerID: "p", PlayerName: "P"}}
	at := time.Date(2026, 2, 12, 10, 15, 0, 0, time.UTC)
	const n = 60 // distinct ground truths: ids with '-' and '_' among them
	var preds []store.Prediction
	for i := range n + 1 {
		preds = append(preds, store.Prediction{ID: fmt.Sprintf("PRE_%02d", i), ModelID: "m1", ScopeKey: "BTC", Status: store.StatusSuccess,
			InferenceInput: json.RawMessage(`{"close":[1]}`), InferenceOutput: json.RawMessage(`{"p_up":0.5}`),
			PerformedAt: at.Add(time.Duration(i) * time.Minute), ResolvableAt: at.Add(time.Duration(i+1) * time.Minute)})
	}
	if _, err := s.SavePredictCycle(ctx, models, preds); err != nil {
		t.Fatal(err)
	}
	truthOf := func(id string) json.RawMessage {
		var i int
		_, _ = fmt.Sscanf(id, "PRE_%d", &i)
		return json.RawMessage(fmt.Sprintf(`{"i": %d, "y": 1}`, i%n)) // PRE_60 repeats PRE_00's
	}
	score := func(until time.Time, limit int) {
		t.Helper()
		if _, err := s.ClaimAndScore(ctx, until, limit, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
			out := make([]store.ScoreUpdate, len(ps))
			for i, p := range ps {
				v := 0.5
				out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}, GroundTruth: truthOf(p.ID)}
			}
			return out, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	score(at.Add(time.Duration(n)*time.Minute), n) // all but PRE_60
	before, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	if err != nil || len(before) != n {
		t.Fatalf("ListPredictions before = %d rows, %v", len(before), err)
	}
	downTo(ctx, t, s, "00019_insert_only_scores.sql", 19) // the scores' ground truth ids back in predictions
	downTo(ctx, t, s, "00017_ground_truth_uuid.sql", 17)
	var texts []string
	if err := s.pool.QueryRow(ctx, `SELECT array_agg(p.ground_truth_id) FROM predictions p JOIN ground_truths g ON g.id = p.ground_truth_id`).Scan(&texts); err != nil || len(texts) != n {
		t.Fatalf("ids at version 16: %d joined, %v; want %d", len(texts), err, n)
	}
	if all := strings.Join(texts, ""); !strings.ContainsAny(all, "-_") || len(texts[0]) != 22 {
		t.Fatalf("ids at version 16 %q: expected 22-character base64url, some with - or _", texts[:3])
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	after, err := openDB(t, dbURL).ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	if err != nil || len(after) != n {
		t.Fatalf("ListPredictions after = %d rows, %v", len(after), err)
	}
	for i := range after {
		if string(after[i].GroundTruth) != string(before[i].GroundTruth) || len(after[i].GroundTruth) == 0 {
			t.Errorf("%s: ground truth %s after 00017, want %s", after[i].ID, after[i].GroundTruth, before[i].GroundTruth)
		}
	}
	score(at.Add(time.Duration(n+1)*time.Minute), 10) // PRE_60: PRE_00's ground truth again
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ground_truths`).Scan(&rows); err != nil || rows != n {
		t.Fatalf("ground_truths: %d rows, %v; want %d (the repeated ground truth found converted)", rows, err, n)
	}
}
