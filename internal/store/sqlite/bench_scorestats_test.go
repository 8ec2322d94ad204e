package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// statsStore returns a migrated store holding what a replay holds once the
// leaderboard's widest window (7 days) is full: one prediction a minute
// for each of 4 models over 7 days and an hour (40,560 rows), nearly all
// scored (1 in 50 failed, 1 in 100 TIMEOUT), and the end of the data.
func statsStore(b *testing.B) (*sqlite.Store, time.Time) {
	b.Helper()
	ctx := context.Background()
	s := benchStore(b)
	models := make([]store.Model, 4)
	for i := range models {
		models[i] = store.Model{ID: fmt.Sprintf("m%d", i), Name: "model", PlayerID: "p", PlayerName: "P"}
	}
	rng := rand.New(rand.NewPCG(16, 4))
	const minutes = 7*24*60 + 60
	var ps []store.Prediction
	for i := range minutes {
		at := benchBase.Add(time.Duration(i) * time.Minute)
		for _, m := range models {
			p := store.Prediction{
				ID: fmt.Sprintf("%s-%06d", m.ID, i), ModelID: m.ID, ScopeKey: "BTC-60-60",
				Scope: json.RawMessage(`{"asset":"BTC","horizon":60}`), Status: store.StatusSuccess, ExecTimeMs: 1.5,
				InferenceInput:  json.RawMessage(`{"close":[100.5,101.25,99.75]}`),
				InferenceOutput: json.RawMessage(`{"distribution":[{"loc":100.1,"scale":0.5,"weight":1}]}`),
				PerformedAt:     at.Add(-time.Minute), ResolvableAt: at,
			}
			switch k := rng.IntN(100); {
			case k < 2:
				p.Score = &store.Score{Success: false, FailedReason: "bad output", ScoredAt: at}
			case k < 3:
				p.Status = store.StatusTimeout
			default:
				v := rng.ExpFloat64() * 37.3
				p.Score = &store.Score{Value: &v, Success: true, ScoredAt: at}
			}
			ps = append(ps, p)
		}
		if len(ps) >= 4000 || i == minutes-1 {
			var ms []store.Model
			if i < 4000/4 {
				ms = models
			}
			if _, err := s.SavePredictCycle(ctx, ms, ps); err != nil {
				b.Fatal(err)
			}
			ps = ps[:0]
		}
	}
	return s, benchBase.Add(minutes * time.Minute)
}

// BenchmarkModelScoreStatsWindows: the hourly leaderboard's read, the
// stats of sdk.DefaultWindows (1, 3 and 7 days) ending now over a full
// 7-day window of 4 models (statsStore).
func BenchmarkModelScoreStatsWindows(b *testing.B) {
	s, now := statsStore(b)
	ctx := context.Background()
	froms := []time.Time{now.Add(-24 * time.Hour), now.Add(-72 * time.Hour), now.Add(-7 * 24 * time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ModelScoreStatsWindows(ctx, froms, now); err != nil {
			b.Fatal(err)
		}
	}
}
