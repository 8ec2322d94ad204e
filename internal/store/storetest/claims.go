package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// scoreAll returns updates scoring every claimed prediction with value v.
func scoreAll(v float64) func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
	return func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		out := make([]store.ScoreUpdate, len(claimed))
		for i, p := range claimed {
			out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: f64(v), Success: true}}
		}
		return out, nil
	}
}

func testClaimAndScore(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	now := base.Add(time.Hour)
	var ps []store.Prediction
	// Due SUCCESS predictions with resolvable_at inserted out of order.
	for i, off := range []int{30, 10, 50, 20, 40} {
		at := now.Add(-time.Duration(off) * time.Minute)
		ps = append(ps, pred(fmt.Sprintf("D%d", i), "m1", at.Add(-time.Minute), at))
	}
	exact := pred("EXACT", "m1", now.Add(-time.Minute), now) // resolvable_at == now is due
	future := pred("FUTURE", "m1", now, now.Add(time.Second))
	failed := pred("FAILED", "m1", base, base)
	failed.Status = store.StatusFailed
	absent := pred("ABSENT", "m1", base, base)
	absent.Status = store.StatusAbsent
	already := pred("ALREADY", "m1", base, base)
	already.Score = &store.Score{Value: f64(9), Success: true, ScoredAt: base}
	ps = append(ps, exact, future, failed, absent, already)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")

	// Limit respected, oldest resolvable_at first.
	var got []string
	n, err := s.ClaimAndScore(ctx, now, 2, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		for _, p := range claimed {
			if p.Score != nil || p.Status != store.StatusSuccess {
				return nil, fmt.Errorf("claimed a scored or non-SUCCESS prediction %+v", p)
			}
		}
		got = ids(claimed)
		return scoreAll(0.5)(ctx, claimed)
	})
	must(t, err, "ClaimAndScore")
	if n != 2 || !sameStrings(got, []string{"D2", "D4"}) {
		t.Fatalf("ClaimAndScore(limit 2): expected [D2 D4] (oldest resolvable_at first), got %d %v", n, got)
	}

	// Next claim: one terminal UNRESOLVED, one scored failure, one left without an update.
	n, err = s.ClaimAndScore(ctx, now, 3, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		got = ids(claimed)
		return []store.ScoreUpdate{
			{PredictionID: claimed[0].ID, Status: store.StatusUnresolved, Reason: "no ground truth after 24h"},
			{PredictionID: claimed[1].ID, Score: &store.Score{Success: false, FailedReason: "bad output", ScoredAt: now}},
		}, nil
	})
	must(t, err, "ClaimAndScore with mixed updates")
	if n != 3 || !sameStrings(got, []string{"D0", "D3", "D1"}) {
		t.Fatalf("second claim: expected [D0 D3 D1], got %d %v", n, got)
	}

	// D1 (no update) and EXACT are claimable again; nothing else.
	n, err = s.ClaimAndScore(ctx, now, 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		got = ids(claimed)
		return scoreAll(2)(ctx, claimed)
	})
	must(t, err, "ClaimAndScore remaining")
	if n != 2 || !sameStrings(got, []string{"D1", "EXACT"}) {
		t.Fatalf("third claim: expected [D1 EXACT], got %d %v", n, got)
	}
	// Nothing due any more: no claim.
	n, err = s.ClaimAndScore(ctx, now, 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		if len(claimed) > 0 {
			return nil, fmt.Errorf("claimed %v although nothing is due", ids(claimed))
		}
		return nil, nil
	})
	must(t, err, "ClaimAndScore with nothing due")
	if n != 0 {
		t.Fatalf("expected 0 claimed when nothing is due, got %d", n)
	}
	// Later, FUTURE becomes due.
	n, err = s.ClaimAndScore(ctx, now.Add(time.Second), 100, scoreAll(3))
	must(t, err, "ClaimAndScore later")
	if n != 1 {
		t.Fatalf("expected FUTURE to be claimed once due, got %d", n)
	}

	// Check what was written.
	all, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	byID := map[string]store.Prediction{}
	for _, p := range all {
		byID[p.ID] = p
	}
	if p := byID["D2"]; p.Score == nil || p.Score.Value == nil || *p.Score.Value != 0.5 || !p.Score.Success {
		t.Errorf("D2: expected score 0.5 success, got %+v", p.Score)
	} else {
		wantTime(t, "zero ScoredAt defaults to the claim time", p.Score.ScoredAt, now)
	}
	if p := byID["D0"]; p.Status != store.StatusUnresolved || p.Score != nil {
		t.Errorf("D0: expected terminal UNRESOLVED without score, got status %q score %+v", p.Status, p.Score)
	}
	if p := byID["D3"]; p.Score == nil || p.Score.Success || p.Score.Value != nil || p.Score.FailedReason != "bad output" {
		t.Errorf("D3: expected failed score with reason, got %+v", p.Score)
	}
	if p := byID["ALREADY"]; p.Score == nil || *p.Score.Value != 9 {
		t.Errorf("ALREADY: pre-existing score must not change, got %+v", p.Score)
	}
	for _, id := range []string{"FAILED", "ABSENT"} {
		if byID[id].Score != nil {
			t.Errorf("%s: non-SUCCESS predictions must never be claimed/scored, got %+v", id, byID[id].Score)
		}
	}
	if c, err := s.CountPredictions(ctx, store.StatusUnresolved); err != nil || c != 1 {
		t.Errorf("CountPredictions(UNRESOLVED): expected 1, got %d (%v)", c, err)
	}
	_, err = s.ClaimAndScore(ctx, now, 0, scoreAll(1))
	if err == nil {
		t.Errorf("ClaimAndScore with limit 0: expected an error, got nil")
	}
}

func testClaimAndScoreErrors(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	now := base.Add(time.Hour)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, []store.Prediction{pred("A", "m1", base, base), pred("B", "m1", base, base.Add(time.Second))})
	must(t, err, "SavePredictCycle")

	boom := errors.New("scoring exploded")
	n, err := s.ClaimAndScore(ctx, now, 10, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
		return []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(1), Success: true}}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ClaimAndScore with failing fn: expected the fn error, got %v", err)
	}
	if n != 0 {
		t.Errorf("ClaimAndScore with failing fn: expected 0 claimed, got %d", n)
	}
	if c, _ := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true}); len(c) != 0 {
		t.Fatalf("fn error: nothing may be written, got scored %v", ids(c))
	}
	bad := []struct {
		name string
		u    []store.ScoreUpdate
	}{
		{"NaN score", []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(nan64()), Success: true}}}},
		{"Inf score", []store.ScoreUpdate{{PredictionID: "B", Score: &store.Score{Value: f64(inf64(1)), Success: true}}}},
		{"unclaimed id", []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(1), Success: true}}, {PredictionID: "NOT-CLAIMED", Score: &store.Score{Value: f64(1), Success: true}}}},
		{"duplicate update", []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(1), Success: true}}, {PredictionID: "A", Score: &store.Score{Value: f64(2), Success: true}}}},
		{"neither score nor status", []store.ScoreUpdate{{PredictionID: "B", Reason: "no outcome"}}},
	}
	for _, b := range bad {
		_, err := s.ClaimAndScore(ctx, now, 10, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) { return b.u, nil })
		wantErrIs(t, err, store.ErrInvalidValue, "ClaimAndScore with "+b.name)
		if c, _ := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true}); len(c) != 0 {
			t.Fatalf("%s: nothing may be written, got scored %v", b.name, ids(c))
		}
	}
	_, err = s.ClaimAndScore(ctx, now, 0, scoreAll(1))
	wantErrIs(t, err, store.ErrInvalidValue, "ClaimAndScore with limit 0")
	_, err = s.ClaimAndScore(ctx, now, 10, nil)
	wantErrIs(t, err, store.ErrInvalidValue, "ClaimAndScore with a nil score function")
	// Everything is still claimable and gets scored exactly once.
	n, err = s.ClaimAndScore(ctx, now, 10, scoreAll(1))
	must(t, err, "ClaimAndScore after errors")
	if n != 2 {
		t.Fatalf("expected both predictions claimable after failed attempts, got %d", n)
	}
	// Scoring twice is a no-op: nothing left to claim.
	n, err = s.ClaimAndScore(ctx, now, 10, scoreAll(5))
	must(t, err, "ClaimAndScore again")
	if n != 0 {
		t.Fatalf("already-scored predictions must not be claimed again, got %d", n)
	}
	ps, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	must(t, err, "ListPredictions")
	for _, p := range ps {
		if *p.Score.Value != 1 {
			t.Errorf("%s: score changed by a second scoring to %v", p.ID, *p.Score.Value)
		}
	}
}

func testClaimConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	a := migrated(t, open)
	b := open(t) // second Store, own pool, same database
	const total = 300
	ps := make([]store.Prediction, total)
	for i := range ps {
		at := base.Add(time.Duration(i) * time.Second)
		ps[i] = pred(fmt.Sprintf("C%04d", i), "m1", at, at)
	}
	_, err := a.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")
	now := base.Add(time.Hour)

	var mu sync.Mutex
	seen := map[string]int{}
	perStore := make([]int, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.ClaimAndScore(ctx, now, 7, func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
					mu.Lock()
					for _, p := range claimed {
						seen[p.ID]++
					}
					mu.Unlock()
					return scoreAll(float64(w))(ctx, claimed)
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				if n == 0 {
					return
				}
				perStore[w] += n
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("concurrent claimers: expected all %d predictions claimed, got %d", total, len(seen))
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("prediction %s was claimed %d times", id, c)
		}
	}
	if perStore[0]+perStore[1] != total {
		t.Fatalf("claimed counts %v do not add up to %d", perStore, total)
	}
	scored, err := b.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true, Limit: total + 1})
	must(t, err, "ListPredictions")
	if len(scored) != total {
		t.Fatalf("expected %d scored predictions, got %d", total, len(scored))
	}
}
