package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testLeaderLock(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	a := migrated(t, open)
	b := open(t)
	var innerSame, innerOther, innerDifferent bool
	ran, err := a.WithLeaderLock(ctx, "score-worker", func(ctx context.Context) error {
		var err error
		// A second concurrent holder (same Store, and another Store on the
		// same database) does not get the lock.
		done := make(chan struct{})
		go func() {
			defer close(done)
			innerSame, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
		}()
		<-done
		if err != nil {
			return err
		}
		innerOther, err = b.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
		if err != nil {
			return err
		}
		innerDifferent, err = b.WithLeaderLock(ctx, "other-lock", func(context.Context) error { return nil })
		return err
	})
	must(t, err, "WithLeaderLock")
	if !ran {
		t.Fatalf("WithLeaderLock: expected the first holder to run")
	}
	ran, err = a.WithLeaderLock(ctx, "", func(context.Context) error { return nil })
	wantErrIs(t, err, store.ErrInvalidValue, "WithLeaderLock with an empty name")
	if ran {
		t.Errorf("WithLeaderLock with an empty name ran its function")
	}
	if innerSame || innerOther {
		t.Fatalf("WithLeaderLock: a second concurrent holder must get ran=false (same store %v, other store %v)", innerSame, innerOther)
	}
	if !innerDifferent {
		t.Fatalf("WithLeaderLock: a different lock name must be independent")
	}
	// Released after fn returns: another store can take it now.
	ran, err = b.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
	must(t, err, "WithLeaderLock after release")
	if !ran {
		t.Fatalf("WithLeaderLock: expected the lock to be free after the first holder returned")
	}
	// fn's error comes back with ran=true, and the lock is released.
	boom := errors.New("leader work failed")
	ran, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return boom })
	if !ran || !errors.Is(err, boom) {
		t.Fatalf("WithLeaderLock with failing fn: expected ran=true and the fn error, got %v %v", ran, err)
	}
	ran, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
	if !ran || err != nil {
		t.Fatalf("WithLeaderLock after a failing fn: expected the lock to be free, got %v %v", ran, err)
	}
}

func testCancelled(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.SavePredictCycle(cancelled, nil, []store.Prediction{pred("X1", "m1", base, base)})
	if err == nil {
		t.Fatalf("SavePredictCycle with a cancelled context: expected an error, got nil")
	}
	if _, err := s.ListPredictions(cancelled, store.PredictionQuery{}); err == nil {
		t.Fatalf("ListPredictions with a cancelled context: expected an error, got nil")
	}
	_, err = s.UpsertMarketRecords(cancelled, []store.MarketRecord{rec("BTC", base, 1)})
	if err == nil {
		t.Fatalf("UpsertMarketRecords with a cancelled context: expected an error, got nil")
	}
	// Cancelled while the claim is open: the scores are not written.
	_, err = s.SavePredictCycle(ctx, nil, []store.Prediction{pred("X2", "m1", base, base)})
	must(t, err, "SavePredictCycle")
	claimCtx, cancelClaim := context.WithCancel(ctx)
	_, err = s.ClaimAndScore(claimCtx, base.Add(time.Hour), 10, func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		cancelClaim()
		return scoreAll(1)(ctx, claimed)
	})
	if err == nil {
		t.Fatalf("ClaimAndScore cancelled during fn: expected an error, got nil")
	}
	n, err := s.CountPredictions(ctx, "")
	must(t, err, "CountPredictions")
	if n != 1 {
		t.Fatalf("cancelled SavePredictCycle must write nothing: expected 1 prediction, got %d", n)
	}
	if recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{}); err != nil || len(recs) != 0 {
		t.Fatalf("cancelled UpsertMarketRecords must write nothing: %d (%v)", len(recs), err)
	}
	scoredPs, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	must(t, err, "ListPredictions")
	if len(scoredPs) != 0 {
		t.Fatalf("ClaimAndScore cancelled during fn must write nothing, got scored %v", ids(scoredPs))
	}
	n2, err := s.ClaimAndScore(ctx, base.Add(time.Hour), 10, scoreAll(1))
	must(t, err, "ClaimAndScore after cancellation")
	if n2 != 1 {
		t.Fatalf("prediction must be claimable after a cancelled claim, got %d", n2)
	}
}
