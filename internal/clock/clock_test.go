package clock

import (
	"context"
	"testing"
	"time"
)

// TestSimulatedSleepUntil: SleepUntil wakes when the clock reaches its
// deadline, returns at once for a deadline already passed (the clock
// advanced between reading Now and sleeping: Sleep(t.Sub(now)) would then
// wait a further t - now), and ends with its context.
func TestSimulatedSleepUntil(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	s := NewSimulated(t0)
	ctx := context.Background()

	done := make(chan error, 1)
	go func() { done <- s.SleepUntil(ctx, t0.Add(5*time.Second)) }()
	for {
		s.mu.Lock()
		n := len(s.waiters)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.Advance(4 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("woke at %v, before its deadline (%v)", s.Now(), err)
	case <-time.After(20 * time.Millisecond):
	}
	s.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("SleepUntil: %v", err)
	}

	// A deadline the clock has passed: no wait, no waiter left behind.
	if err := s.SleepUntil(ctx, t0.Add(time.Second)); err != nil {
		t.Fatalf("SleepUntil of a past deadline: %v", err)
	}
	if len(s.waiters) != 0 {
		t.Fatalf("%d waiters left", len(s.waiters))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.SleepUntil(cctx, s.Now().Add(time.Hour)); err != context.Canceled {
		t.Fatalf("SleepUntil with a cancelled context = %v", err)
	}
}
