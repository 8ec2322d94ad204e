package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// testModelScoreStatsWindows: ModelScoreStatsWindows, the leaderboard's
// one-scan read of its nested windows, returns for every window exactly
// (bit for bit) what ModelScoreStats returns for it alone, and both match
// the aggregates computed here from every prediction with sdk.IsNonAnswer,
// over windows whose bounds fall inside hours and on predictions, before
// and after late scores and status-only updates (UNRESOLVED).
func testModelScoreStatsWindows(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	rng := rand.New(rand.NewPCG(16, 1))

	// One prediction every 13 minutes over 9 days for m1..m3; m2 gets m1's
	// outcomes (a tie must stay a tie in every window).
	type outcome struct {
		model      string
		resolvable time.Time
		status     string
		score      *store.Score
	}
	state := map[string]*outcome{}
	var ps []store.Prediction
	start := base.Add(-9 * 24 * time.Hour)
	for i := 0; i < 9*24*60/13; i++ {
		at := start.Add(time.Duration(i*13) * time.Minute)
		v := (rng.Float64() - 0.3) * 1e3 / 7
		kind := rng.IntN(20)
		for _, m := range []string{"m1", "m2", "m3"} {
			if m == "m3" {
				v, kind = rng.NormFloat64()*3, rng.IntN(20)
			}
			p := pred(fmt.Sprintf("%s-%05d", m, i), m, at.Add(-time.Hour), at)
			switch {
			case kind == 0:
				p.Score = &store.Score{Success: false, FailedReason: "bad output", ScoredAt: at}
			case kind == 1:
				p.Score = &store.Score{Success: true, ScoredAt: at} // no value
			case kind == 2:
				p.Status = store.StatusFailed
			case kind == 3:
				p.Status = store.StatusTimeout
			case kind < 9:
				// left unscored: scored late, or marked UNRESOLVED, below
			default:
				p.Score = &store.Score{Value: f64(v), Success: true, ScoredAt: at}
			}
			ps = append(ps, p)
			state[p.ID] = &outcome{model: m, resolvable: at, status: p.Status, score: p.Score}
		}
	}
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2"), model("m3")}, ps)
	must(t, err, "SavePredictCycle")

	// expect computes the stats of [from, to] (zero = unbounded) from state.
	expect := func(from, to time.Time) map[string]store.ModelScoreStat {
		out := map[string]store.ModelScoreStat{}
		for _, o := range state {
			if (!from.IsZero() && o.resolvable.Before(from)) || (!to.IsZero() && o.resolvable.After(to)) {
				continue
			}
			st := out[o.model]
			st.ModelID = o.model
			var sc *sdk.PredictionScore
			if o.score != nil {
				sc = &sdk.PredictionScore{Value: o.score.Value, Success: o.score.Success}
			}
			switch {
			case sdk.IsNonAnswer(o.status, sc):
				st.NonAnswers++
			case o.status == store.StatusSuccess && sc != nil:
				if st.Count == 0 || *sc.Value < st.Min {
					st.Min = *sc.Value
				}
				st.Count++
				st.Sum += *sc.Value
			default:
				continue
			}
			out[o.model] = st
		}
		return out
	}
	check := func(t *testing.T, froms []time.Time, to time.Time) {
		t.Helper()
		got, err := s.ModelScoreStatsWindows(ctx, froms, to)
		must(t, err, "ModelScoreStatsWindows")
		if len(got) != len(froms) {
			t.Fatalf("ModelScoreStatsWindows(%d windows): expected %d results, got %d", len(froms), len(froms), len(got))
		}
		for i, from := range froms {
			alone, err := s.ModelScoreStats(ctx, from, to)
			must(t, err, "ModelScoreStats")
			if fmt.Sprintf("%#v", got[i]) != fmt.Sprintf("%#v", alone) {
				t.Fatalf("window %d [%s, %s]: ModelScoreStatsWindows gave %+v, ModelScoreStats alone %+v", i, from, to, got[i], alone)
			}
			want := expect(from, to)
			if len(got[i]) != len(want) {
				t.Fatalf("window %d [%s, %s]: expected stats of %d models %+v, got %+v", i, from, to, len(want), want, got[i])
			}
			for _, g := range got[i] {
				w := want[g.ModelID]
				if g.Count != w.Count || g.NonAnswers != w.NonAnswers || g.Min != w.Min || math.Abs(g.Sum-w.Sum) > 1e-9*math.Max(1, math.Abs(w.Sum)) {
					t.Fatalf("window %d [%s, %s], model %s: expected %+v, got %+v", i, from, to, g.ModelID, w, g)
				}
			}
			if len(got[i]) >= 2 && (got[i][0].Sum != got[i][1].Sum || got[i][0].Mean != got[i][1].Mean) {
				t.Fatalf("window %d: m1 and m2 have the same outcomes, got %+v and %+v", i, got[i][0], got[i][1])
			}
		}
	}
	windows := func(t *testing.T) {
		end := start.Add(9 * 24 * time.Hour)
		for _, to := range []time.Time{
			end, // past the last prediction
			start.Add(8*24*time.Hour + 13*time.Minute*7), // on a prediction
			start.Add(7*24*time.Hour + 37*time.Minute + 123*time.Microsecond),
			start.Add(2 * time.Hour), // shorter than every window: all start before the data
		} {
			check(t, []time.Time{to.Add(-24 * time.Hour), to.Add(-72 * time.Hour), to.Add(-7 * 24 * time.Hour)}, to)
			check(t, []time.Time{to.Add(-7 * 24 * time.Hour), to.Add(-90 * time.Minute), {}}, to) // any order, one unbounded
		}
		check(t, []time.Time{start.Add(26 * time.Minute)}, time.Time{}) // unbounded end, a start on a prediction
		check(t, []time.Time{{}}, time.Time{})
		check(t, []time.Time{end.Add(time.Hour)}, end.Add(2*time.Hour)) // empty
	}
	t.Run("stored", windows)

	// Late scores and status-only updates: the unscored predictions are
	// scored (some failed) or marked UNRESOLVED, by their number (the same
	// outcome for m1 and m2).
	_, err = s.ClaimAndScore(ctx, start.Add(10*24*time.Hour), 1_000_000, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		var out []store.ScoreUpdate
		for _, p := range claimed {
			o := state[p.ID]
			var i int
			if _, err := fmt.Sscanf(p.ID[len("m1-"):], "%d", &i); err != nil {
				return nil, fmt.Errorf("prediction id %q: %w", p.ID, err)
			}
			switch k := i % 4; {
			case k == 0:
				o.status = store.StatusUnresolved
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: "no ground truth"})
			case k == 1:
				o.score = &store.Score{Success: false, FailedReason: "late failure"}
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: o.score})
			default:
				o.score = &store.Score{Value: f64(math.Sin(float64(i)) * 10), Success: true}
				out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: o.score})
			}
		}
		return out, nil
	})
	must(t, err, "ClaimAndScore")
	t.Run("late scores and UNRESOLVED", windows)

	for _, n := range []int{0, store.MaxStatsWindows + 1} {
		_, err := s.ModelScoreStatsWindows(ctx, make([]time.Time, n), base)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("ModelScoreStatsWindows with %d windows", n))
	}
}
