package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testRollups: the score rollups the drivers maintain while scoring
// (predictions stored with a score, ClaimAndScore) equal store.RollupsOf
// computed directly from the scored rows, on a generated dataset with
// repeats, failures, terminal statuses, ties and several series and hours.
func testRollups(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	start, now := seedRollups(t, s)
	scoredRows, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true, Limit: 100_000, WithoutInput: true})
	must(t, err, "ListPredictions")
	want := store.RollupsOf(scoredRows)
	if len(want) < 100 {
		t.Fatalf("generated dataset too small: %d rollups from %d scored predictions", len(want), len(scoredRows))
	}
	far := start.Add(-24 * time.Hour)
	got, err := s.ScoreRollups(ctx, store.RollupQuery{From: far, To: now.Add(24 * time.Hour)})
	must(t, err, "ScoreRollups")
	sameRollups(t, "all", got, want)

	// Filters: models and an inclusive bucket-end range.
	lo, hi := start.Add(5*time.Hour), start.Add(9*time.Hour)
	var wantSome []store.ScoreRollup
	for _, r := range want {
		if r.ModelID == "m2" && !r.BucketEnd.Before(lo) && !r.BucketEnd.After(hi) {
			wantSome = append(wantSome, r)
		}
	}
	got, err = s.ScoreRollups(ctx, store.RollupQuery{ModelIDs: []string{"m2", "nope"}, From: lo, To: hi})
	must(t, err, "ScoreRollups (filtered)")
	sameRollups(t, "m2 from 05:00 to 09:00", got, wantSome)
	if len(wantSome) != 2*5 { // two scopes, bucket ends 05:00..09:00
		t.Errorf("filtered: %d rollups, want 10", len(wantSome))
	}

	// Chart points: the database's windows and downsampling equal
	// store.RollupPointsOf over the rollups.
	for _, q := range []store.RollupPointQuery{
		{From: start, To: now, Windows: []time.Duration{24 * time.Hour, 3 * time.Hour}, MaxPoints: 1 << 20, MaxSeriesPoints: 1000},
		{From: start.Add(7*time.Hour + 13*time.Minute), To: now.Add(-2*time.Hour - 30*time.Minute), Windows: []time.Duration{90 * time.Minute, time.Hour, 7 * 24 * time.Hour}, MaxPoints: 1 << 20, MaxSeriesPoints: 1000},
		{From: start, To: now, Windows: []time.Duration{5 * time.Hour}, MaxPoints: 20, MaxSeriesPoints: 1000},
		{ModelIDs: []string{"m2"}, From: start, To: now, Windows: []time.Duration{5 * time.Hour}, MaxPoints: 1000, MaxSeriesPoints: 7},
		{ModelIDs: []string{"m1"}, From: start, To: now, Windows: []time.Duration{time.Hour}, MaxPoints: 1, MaxSeriesPoints: 7},
		{ModelIDs: []string{"nope"}, From: start, To: now, Windows: []time.Duration{time.Hour}, MaxPoints: 1, MaxSeriesPoints: 7},
		// A model named twice is one model; the order of the names does not matter.
		{ModelIDs: []string{"m2", "nope", "m1", "m2"}, From: start, To: now, Windows: []time.Duration{3 * time.Hour}, MaxPoints: 1000, MaxSeriesPoints: 1000},
	} {
		from, to := q.Range()
		rs, err := s.ScoreRollups(ctx, store.RollupQuery{ModelIDs: q.ModelIDs, From: from, To: to})
		must(t, err, "ScoreRollups")
		want := store.RollupPointsOf(rs, q)
		// The rule's window sums, recomputed naively from the rollups.
		for _, p := range want {
			for j, w := range q.Windows {
				var a int64
				var sum float64
				for _, r := range rs {
					if r.ModelID == p.ModelID && r.ScopeKey == p.ScopeKey && r.BucketEnd.After(p.BucketEnd.Add(-time.Duration(store.WindowBuckets(w))*store.RollupWidth)) && !r.BucketEnd.After(p.BucketEnd) {
						a, sum = a+r.Answered, sum+r.Sum
					}
				}
				if a != p.Answered[j] || math.Abs(sum-p.Sums[j]) > 1e-9 {
					t.Fatalf("RollupPointsOf: %s window %s: answered %d sum %v, want %d %v", fmtRollup(p.ScoreRollup), w, p.Answered[j], p.Sums[j], a, sum)
				}
			}
		}
		got, err := s.RollupPoints(ctx, q)
		must(t, err, "RollupPoints")
		what := fmt.Sprintf("RollupPoints(%v..%v, windows %v, budget %d/%d)", q.From, q.To, q.Windows, q.MaxPoints, q.MaxSeriesPoints)
		if len(got) != len(want) || (len(want) == 0) != slices.Equal(q.ModelIDs, []string{"nope"}) {
			t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			sameRollups(t, what, []store.ScoreRollup{g.ScoreRollup}, []store.ScoreRollup{w.ScoreRollup})
			if g.PerSeries != w.PerSeries || fmt.Sprint(g.Answered) != fmt.Sprint(w.Answered) {
				t.Fatalf("%s: point %d: per series %d answered %v, want %d %v", what, i, g.PerSeries, g.Answered, w.PerSeries, w.Answered)
			}
			for j := range w.Sums {
				if math.Abs(g.Sums[j]-w.Sums[j]) > 1e-9 {
					t.Fatalf("%s: point %d: sums %v, want %v", what, i, g.Sums, w.Sums)
				}
			}
		}
	}
	if got, _ := s.RollupPoints(ctx, store.RollupPointQuery{From: start, To: now, Windows: []time.Duration{5 * time.Hour}, MaxPoints: 20, MaxSeriesPoints: 1000}); len(got) > 20 || len(got) < 12 {
		t.Errorf("a budget of 20 points: got %d", len(got))
	}
	for _, q := range []store.RollupPointQuery{{To: now, Windows: []time.Duration{time.Hour}, MaxPoints: 1, MaxSeriesPoints: 1},
		{From: start, To: now, MaxPoints: 1, MaxSeriesPoints: 1}, {From: start, To: now, Windows: []time.Duration{0}, MaxPoints: 1, MaxSeriesPoints: 1},
		{From: start, To: now, Windows: []time.Duration{time.Hour}, MaxSeriesPoints: 1}} {
		_, err := s.RollupPoints(ctx, q)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("RollupPoints(%+v)", q))
	}

	for _, q := range []store.RollupQuery{{To: now}, {From: now}, {From: now, To: start}} {
		_, err := s.ScoreRollups(ctx, q)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("ScoreRollups(%+v)", q))
	}
}

// RollupBackfill checks that the migration creating the score rollups
// fills them from the predictions already scored: s (migrated, empty) gets
// the generated dataset of the Rollups area, downgrade(t) must then bring
// its database back to the schema before the rollups (drop the table and
// its goose version row) with every prediction kept, and s.Migrate must
// rebuild rollups equal to store.RollupsOf of the scored rows, and chart
// revisions of 1 for every series and day holding a prediction.
func RollupBackfill(t *testing.T, s store.Store, downgrade func(t *testing.T)) {
	ctx := ctxT(t)
	start, now := seedRollups(t, s)
	downgrade(t)
	must(t, s.Migrate(ctx), "Migrate (backfill)")
	scoredRows, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true, Limit: 100_000, WithoutInput: true})
	must(t, err, "ListPredictions")
	got, err := s.ScoreRollups(ctx, store.RollupQuery{From: start.Add(-24 * time.Hour), To: now.Add(24 * time.Hour)})
	must(t, err, "ScoreRollups")
	sameRollups(t, "backfilled", got, store.RollupsOf(scoredRows))
	// The chart revisions (00013, re-run after the rollups) are 1 for
	// every series and day holding a prediction, and only those.
	all, err := s.ListPredictions(ctx, store.PredictionQuery{Limit: 100_000, WithoutInput: true})
	must(t, err, "ListPredictions")
	revs, err := s.ChartRevisions(ctx, store.ChartRevisionQuery{Kind: store.ChartPredictions, From: start.Add(-24 * time.Hour), To: now.Add(24 * time.Hour)})
	must(t, err, "ChartRevisions")
	if want := store.ChartDaysOfPredictions(all); fmt.Sprint(revs) != fmt.Sprint(want) {
		t.Errorf("backfilled chart revisions:\n got %v\nwant %v", revs, want)
	}
}

// seedRollups writes the generated dataset of the Rollups area through
// SavePredictCycle and ClaimAndScore; it returns its first bucket end and
// the claim time.
func seedRollups(t *testing.T, s store.Store) (start, now time.Time) {
	ctx := ctxT(t)
	start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // a bucket end
	var pre, due []store.Prediction
	for i := range 300 {
		// Every 7 minutes, so some fall exactly on a bucket end.
		at := start.Add(time.Duration(i*7) * time.Minute)
		for m, model := range []string{"m1", "m2"} {
			p := pred(fmt.Sprintf("R%s-%03d", model, i), model, at, at.Add(time.Minute))
			if (i+m)%3 == 0 {
				p.ScopeKey, p.Scope = "ETH-60-60", json.RawMessage(`{"asset":"ETH","horizon":60}`)
			}
			switch {
			case i%5 == 0: // stored with its score (a replay's pre-scored rows)
				v := float64((i*37+m*11)%100) / 64
				p.Score = &store.Score{Value: &v, Success: i%10 != 0, FailedReason: "", ScoredAt: at.Add(time.Hour)}
				if i%10 == 0 {
					p.Score.FailedReason = "rejected"
				}
				pre = append(pre, p)
			case i%11 == 0:
				p.Status = store.StatusTimeout // never scored
				pre = append(pre, p)
			default:
				due = append(due, p)
			}
		}
	}
	// A tie on performed_at inside one bucket: the larger id is the newest.
	tie := pred("Rm1-tie", "m1", start.Add(7*time.Minute), start.Add(8*time.Minute))
	tie.Score = &store.Score{Value: f64(0.25), Success: true, ScoredAt: start}
	pre = append(pre, tie)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, pre)
	must(t, err, "SavePredictCycle (pre-scored)")
	// Saving the same rows again inserts nothing and counts nothing twice.
	_, err = s.SavePredictCycle(ctx, nil, pre[:40])
	must(t, err, "SavePredictCycle (repeat)")
	_, err = s.SavePredictCycle(ctx, nil, due)
	must(t, err, "SavePredictCycle (due)")
	now = start.Add(300 * 7 * time.Minute)
	k := 0
	for {
		n, err := s.ClaimAndScore(ctx, now, 97, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
			var out []store.ScoreUpdate
			for _, p := range claimed {
				k++
				switch {
				case k%13 == 0:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: "no price"})
				case k%7 == 0:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Success: false, FailedReason: "bad output"}})
				case k%17 == 0:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Success: true}}) // no value
				default:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: f64(float64(k%50) / 32), Success: true}})
				}
			}
			return out, nil
		})
		must(t, err, "ClaimAndScore")
		if n == 0 {
			break
		}
	}
	return start, now
}

// sameRollups compares rollups field by field (sums within 1e-9).
func sameRollups(t *testing.T, what string, got, want []store.ScoreRollup) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rollups, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		same := g.ModelID == w.ModelID && g.ScopeKey == w.ScopeKey && g.BucketEnd.Equal(w.BucketEnd) &&
			g.Scored == w.Scored && g.Answered == w.Answered && math.Abs(g.Sum-w.Sum) < 1e-9 &&
			g.LastID == w.LastID && g.LastPerformedAt.Equal(w.LastPerformedAt) &&
			(g.LastValue == nil) == (w.LastValue == nil) && (g.LastValue == nil || *g.LastValue == *w.LastValue)
		if !same {
			t.Fatalf("%s: rollup %d = %s, want %s", what, i, fmtRollup(g), fmtRollup(w))
		}
		if ok, err := jsonSame(g.LastScope, w.LastScope); err != nil || !ok {
			t.Fatalf("%s: rollup %d scope %s, want %s (%v)", what, i, g.LastScope, w.LastScope, err)
		}
		if g.BucketEnd.Location() != time.UTC || g.LastPerformedAt.Location() != time.UTC {
			t.Errorf("%s: rollup %d times not UTC", what, i)
		}
	}
}

func fmtRollup(r store.ScoreRollup) string {
	v := "nil"
	if r.LastValue != nil {
		v = fmt.Sprint(*r.LastValue)
	}
	return fmt.Sprintf("{%s %s %s scored %d answered %d sum %v last %s at %s value %s}", r.ModelID, r.ScopeKey,
		r.BucketEnd.Format(time.RFC3339), r.Scored, r.Answered, r.Sum, r.LastID, r.LastPerformedAt.Format(time.RFC3339Nano), v)
}
