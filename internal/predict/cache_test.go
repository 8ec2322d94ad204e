package predict_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// countingStore counts the predict worker's bookkeeping reads.
type countingStore struct {
	store.Store
	mu                     sync.Mutex
	latest, models, scheds int
}

func (c *countingStore) LatestPerformedAt(ctx context.Context, id string) (time.Time, error) {
	c.mu.Lock()
	c.latest++
	c.mu.Unlock()
	return c.Store.LatestPerformedAt(ctx, id)
}

func (c *countingStore) ListModels(ctx context.Context) ([]store.Model, error) {
	c.mu.Lock()
	c.models++
	c.mu.Unlock()
	return c.Store.ListModels(ctx)
}

func (c *countingStore) ListSchedules(ctx context.Context, activeOnly bool) ([]store.ScheduleRow, error) {
	c.mu.Lock()
	c.scheds++
	c.mu.Unlock()
	return c.Store.ListSchedules(ctx, activeOnly)
}

// The worker reads performed_at and the model rows from the store once,
// then keeps them itself; schedule rows are read again once they are older
// than Config.ScheduleRefresh, so a changed schedule applies at the first
// cycle after that.
func TestWorkerRemembersItsOwnBookkeeping(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.models.set(running("a", "b"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0), "b": success(`{"p_up":0.25}`, 0)})
	cs := &countingStore{Store: f.st}
	w := f.worker(t, func(c *predict.Config) { c.Store = cs; c.ScheduleRefresh = time.Hour })
	for i := 0; i < 5; i++ {
		res, err := w.RunOnce(ctx)
		if err != nil || res.Inserted != 2 {
			t.Fatalf("cycle %d: inserted %d err %v, want 2", i, res.Inserted, err)
		}
		// A second call in the same slot is not due.
		if res, err := w.RunOnce(ctx); err != nil || len(res.Due) != 0 {
			t.Fatalf("cycle %d again: due %v err %v, want none", i, res.Due, err)
		}
		f.clk.Advance(time.Minute)
	}
	if cs.latest != 1 || cs.models != 1 || cs.scheds != 1 {
		t.Errorf("store reads: LatestPerformedAt %d, ListModels %d, ListSchedules %d; want 1, 1, 1", cs.latest, cs.models, cs.scheds)
	}
	if n := len(listPredictions(t, f.st)); n != 10 {
		t.Fatalf("stored predictions = %d, want 10", n)
	}

	// A new model makes the worker reread the model rows.
	f.models.set(running("a", "b", "c"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0), "b": success(`{"p_up":0.25}`, 0), "c": success(`{"p_up":0.75}`, 0)})
	if res, err := w.RunOnce(ctx); err != nil || res.Inserted != 3 || res.ModelsWritten != 1 {
		t.Fatalf("cycle with a new model: inserted %d models written %d err %v, want 3 and 1", res.Inserted, res.ModelsWritten, err)
	}
	if cs.models != 2 {
		t.Errorf("ListModels calls = %d, want 2 (reread for the new model)", cs.models)
	}
	f.clk.Advance(time.Minute)
	if res, err := w.RunOnce(ctx); err != nil || res.ModelsWritten != 0 {
		t.Fatalf("next cycle: models written %d err %v, want 0", res.ModelsWritten, err)
	}

	// A schedule changed in the store: the worker keeps its read for
	// ScheduleRefresh (an hour here), a worker refreshing every
	// millisecond applies the change at its first cycle after that. Every
	// 120 s, so the next slot starts on an even minute.
	fresh := f.worker(t, func(c *predict.Config) { c.Store = cs; c.ScheduleRefresh = time.Millisecond })
	if _, err := fresh.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	seedSchedules(t, f.st, scheduleRow("btc-60", 120, 300))
	time.Sleep(5 * time.Millisecond) // past fresh's ScheduleRefresh
	f.clk.Advance(time.Minute)
	for _, tc := range []struct {
		name  string
		w     *predict.Worker
		every time.Duration
	}{{"cached read (1 h)", w, 60 * time.Second}, {"refreshed read (1 ms)", fresh, 120 * time.Second}} {
		res, err := tc.w.RunOnce(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := schedSlot(f.clk.Now(), tc.every).Add(tc.every); !res.NextDue.Equal(want) {
			t.Errorf("%s: next due after the schedule change = %s, want %s", tc.name, res.NextDue, want)
		}
	}
}

func schedSlot(now time.Time, every time.Duration) time.Time {
	return now.Truncate(every)
}
