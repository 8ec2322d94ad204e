package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

var benchBase = time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC)

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchPredictions returns n SUCCESS predictions spread over 10 models, ids
// prefixed so every call can produce a fresh batch.
func benchPredictions(prefix string, n int) ([]store.Model, []store.Prediction) {
	models := make([]store.Model, 10)
	for i := range models {
		models[i] = store.Model{ID: fmt.Sprintf("m%02d", i), Name: "model", PlayerID: "p", PlayerName: "P"}
	}
	ps := make([]store.Prediction, n)
	for i := range ps {
		at := benchBase.Add(time.Duration(i) * time.Second)
		ps[i] = store.Prediction{
			ID: fmt.Sprintf("%s_%06d", prefix, i), ModelID: models[i%10].ID, ScopeKey: "BTC-60-60",
			Scope: json.RawMessage(`{"asset":"BTC","horizon":60}`), Status: store.StatusSuccess, ExecTimeMs: 1.5,
			InferenceInput:  json.RawMessage(`{"close":[100.5,101.25,99.75]}`),
			InferenceOutput: json.RawMessage(`{"distribution":[{"loc":100.1,"scale":0.5,"weight":1}]}`),
			PerformedAt:     at, ResolvableAt: at.Add(time.Minute),
		}
	}
	return models, ps
}

// BenchmarkInsertPredictions10k: one SavePredictCycle of 10,000 new
// predictions (one transaction).
func BenchmarkInsertPredictions10k(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		models, ps := benchPredictions(fmt.Sprintf("B%d", i), 10_000)
		b.StartTimer()
		n, err := s.SavePredictCycle(ctx, models, ps)
		if err != nil || n != len(ps) {
			b.Fatalf("SavePredictCycle: %d %v", n, err)
		}
	}
}

// BenchmarkClaimAndScore10k: claim and score 10,000 due predictions in
// batches of 500.
func BenchmarkClaimAndScore10k(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	now := benchBase.Add(1000 * time.Hour)
	score := func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		out := make([]store.ScoreUpdate, len(claimed))
		for i, p := range claimed {
			v := float64(i)
			out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}}
		}
		return out, nil
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		models, ps := benchPredictions(fmt.Sprintf("C%d", i), 10_000)
		if _, err := s.SavePredictCycle(ctx, models, ps); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		total := 0
		for {
			n, err := s.ClaimAndScore(ctx, now, 500, score)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total != 10_000 {
			b.Fatalf("scored %d, expected 10000", total)
		}
	}
}

// BenchmarkLatestLeaderboard: read the newest of 1,000 snapshots of 100
// entries each.
func BenchmarkLatestLeaderboard(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	entries := []byte("[")
	for i := range 100 {
		if i > 0 {
			entries = append(entries, ',')
		}
		entries = fmt.Appendf(entries, `{"rank":%d,"model_id":"m%03d","score":{"value":%d.5,"success":true}}`, i+1, i, i)
	}
	entries = append(entries, ']')
	for i := range 1000 {
		lb := store.Leaderboard{ID: fmt.Sprintf("LBR_%04d", i), CreatedAt: benchBase.Add(time.Duration(i) * time.Minute), Entries: entries}
		if err := s.SaveLeaderboard(ctx, lb, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		lb, err := s.LatestLeaderboard(ctx)
		if err != nil || lb.ID != "LBR_0999" {
			b.Fatalf("LatestLeaderboard: %s %v", lb.ID, err)
		}
	}
}
