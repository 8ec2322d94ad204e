package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// TestModelScoreStatsExactSums: a window's Sum is the exact sum of its
// scores rounded once (store.ExactSum), computed alone or with other
// windows, for scores where adding them one by one in float64 loses bits
// (magnitudes 2^-40 to 2^40, cancelling pairs), and models with the same
// scores in another order get the same Sum.
func TestModelScoreStatsExactSums(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 600
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = math.Ldexp(math.Sin(float64(i)*7.3)+0.2, (i*37)%81-40)
		if i%5 == 4 {
			vals[i] = -vals[i-1]
		}
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ps []store.Prediction
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		for m, v := range map[string]float64{"a": vals[i], "b": vals[n-1-i]} {
			ps = append(ps, store.Prediction{
				ID: fmt.Sprintf("%s-%04d", m, i), ModelID: m, ScopeKey: "BTC-60-60", Scope: json.RawMessage(`{"asset":"BTC"}`),
				Status: store.StatusSuccess, InferenceInput: json.RawMessage(`{}`), InferenceOutput: json.RawMessage(`{}`),
				PerformedAt: at.Add(-time.Minute), ResolvableAt: at,
				Score: &store.Score{Value: &v, Success: true, ScoredAt: at},
			})
		}
	}
	models := []store.Model{{ID: "a", Name: "a", PlayerID: "p", PlayerName: "P"}, {ID: "b", Name: "b", PlayerID: "p", PlayerName: "P"}}
	if _, err := s.SavePredictCycle(ctx, models, ps); err != nil {
		t.Fatal(err)
	}
	end := start.Add(n * time.Minute)
	cuts := []int{0, 100, 333, 599}
	froms := make([]time.Time, len(cuts))
	for i, c := range cuts {
		froms[i] = start.Add(time.Duration(c) * time.Minute)
	}
	got, err := s.ModelScoreStatsWindows(ctx, froms, end)
	if err != nil {
		t.Fatal(err)
	}
	inexact := 0
	for i, c := range cuts {
		w := new(big.Float).SetPrec(2200)
		naive := 0.0
		for _, v := range vals[c:] {
			w.Add(w, big.NewFloat(v))
			naive += v
		}
		want, _ := w.Float64()
		if naive != want {
			inexact++
		}
		alone, err := s.ModelScoreStats(ctx, froms[i], end)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[i]) != 2 || len(alone) != 2 {
			t.Fatalf("window from minute %d: expected models a and b, got %+v and alone %+v", c, got[i], alone)
		}
		if a := got[i][0]; a.ModelID != "a" || a.Count != n-c || a.Sum != want || alone[0] != a {
			t.Fatalf("window from minute %d, model a: expected %d scores adding up to %v (%x) alone or not, got %+v (%x), alone %+v",
				c, n-c, want, math.Float64bits(want), a, math.Float64bits(a.Sum), alone[0])
		}
	}
	if inexact == 0 {
		t.Fatal("the scores add up exactly in float64: the test checks nothing")
	}
	all, err := s.ModelScoreStats(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if all[0].Sum != all[1].Sum || all[0].Min != all[1].Min || all[0].Count != all[1].Count {
		t.Fatalf("models a and b have the same scores (in reverse order): got %+v and %+v", all[0], all[1])
	}
}
