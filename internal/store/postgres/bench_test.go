package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// benchPredictions builds n SUCCESS predictions over 10 models with ids
// prefixed by prefix and realistic JSON payloads.
func benchPredictions(prefix string, n int, t0 time.Time) []store.Prediction {
	preds := make([]store.Prediction, n)
	for i := range preds {
		slot := t0.Add(time.Duration(i/10) * time.Minute)
		preds[i] = store.Prediction{
			ID:                 fmt.Sprintf("%s-%07d", prefix, i),
			ModelID:            fmt.Sprintf("m%02d", i%10),
			PredictionConfigID: "CFG_001",
			ScopeKey:           "BTC-60-60",
			Scope:              json.RawMessage(`{"asset":"BTC","horizon":60,"step":60}`),
			Status:             store.StatusSuccess,
			ExecTimeMs:         12.5,
			InferenceInput:     json.RawMessage(`{"candles":[[1677628800000,23141.57,23141.57,23100.01,23122.41,12.3]]}`),
			InferenceOutput:    json.RawMessage(`{"value":0.0123}`),
			Meta:               json.RawMessage(`{}`),
			PerformedAt:        slot,
			ResolvableAt:       slot.Add(time.Minute),
		}
	}
	return preds
}

func benchModels() []store.Model {
	ms := make([]store.Model, 10)
	for i := range ms {
		ms[i] = store.Model{ID: fmt.Sprintf("m%02d", i), Name: fmt.Sprintf("model %d", i), PlayerID: "p", PlayerName: "player"}
	}
	return ms
}

func benchStore(tb testing.TB) *Store {
	s, _ := openMigrated(tb)
	ctx := context.Background()
	if err := s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "BTC-60-60", Active: true}}); err != nil {
		tb.Fatal(err)
	}
	if err := s.UpsertModels(ctx, benchModels()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkInsertPredictions10k inserts one predict cycle of 10,000 new
// predictions per iteration (target >= 50k rows/s).
func BenchmarkInsertPredictions10k(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	models := benchModels()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		preds := benchPredictions(fmt.Sprintf("it%d", i), 10000, t0)
		b.StartTimer()
		n, err := s.SavePredictCycle(ctx, models, preds)
		if err != nil || n != 10000 {
			b.Fatalf("SavePredictCycle = %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkClaimAndScore10k claims and scores 10,000 due predictions per
// iteration in batches of 1,000 (target >= 20k rows/s). Each iteration's
// predictions are due at instants of their own (a day after the previous
// iteration's), as a live node's are: the claim reads an instant's
// predictions through ix_predictions_resolvable_at, scored ones included
// (migration 00019), so reusing the instants would have each iteration
// read the scored predictions of all the earlier ones again.
func BenchmarkClaimAndScore10k(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	score := func(_ context.Context, c []store.Prediction) ([]store.ScoreUpdate, error) {
		ups := make([]store.ScoreUpdate, len(c))
		for i, p := range c {
			v := float64(i)
			ups[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}}
		}
		return ups, nil
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if _, err := s.SavePredictCycle(ctx, nil, benchPredictions(fmt.Sprintf("it%d", i), 10000, t0.Add(time.Duration(i)*24*time.Hour))); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		total := 0
		for {
			n, err := s.ClaimAndScore(ctx, t0.Add(365*24*time.Hour), 1000, score)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total != 10000 {
			b.Fatalf("scored %d; want 10000", total)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkLatestLeaderboard reads the newest of 1,000 snapshots of 100
// entries each.
func BenchmarkLatestLeaderboard(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var entries strings.Builder
	entries.WriteString("[")
	for i := range 100 {
		if i > 0 {
			entries.WriteString(",")
		}
		fmt.Fprintf(&entries, `{"rank":%d,"model_id":"m%02d","score":{"metrics":{"recent":0.%d},"ranking":{"key":"recent","value":0.%d}}}`, i+1, i%10, i, i)
	}
	entries.WriteString("]")
	for i := range 1000 {
		lb := store.Leaderboard{ID: fmt.Sprintf("LBR_%05d", i), CreatedAt: t0.Add(time.Duration(i) * time.Minute), Entries: json.RawMessage(entries.String())}
		if err := s.SaveLeaderboard(ctx, lb, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		lb, err := s.LatestLeaderboard(ctx)
		if err != nil || lb.ID != "LBR_00999" {
			b.Fatalf("LatestLeaderboard = %s, %v", lb.ID, err)
		}
	}
}
