// Package clock provides the wall clock and a simulated clock. Every worker
// takes a Clock, so a replay advances simulated time with the feed and weeks
// of candles replay in seconds.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time (UTC) and waits.
type Clock interface {
	// Now returns the current time in UTC.
	Now() time.Time
	// Sleep waits for d or until ctx is done (returning ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// Wall is the real clock.
type Wall struct{}

// Now returns time.Now in UTC.
func (Wall) Now() time.Time { return time.Now().UTC() }

// Sleep waits for d or until ctx is done.
func (Wall) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Simulated is a clock that moves only when told to (Set / Advance). Sleep
// blocks until simulated time has advanced by d. Safe for concurrent use.
type Simulated struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	until time.Time
	ch    chan struct{}
}

// NewSimulated returns a simulated clock set to start (converted to UTC).
func NewSimulated(start time.Time) *Simulated { return &Simulated{now: start.UTC()} }

// Now returns the simulated time.
func (s *Simulated) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Set moves the clock to t; moving backwards is ignored (time never runs back).
func (s *Simulated) Set(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t = t.UTC()
	if t.Before(s.now) {
		return
	}
	s.now = t
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if !w.until.After(t) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
}

// Advance moves the clock forward by d.
func (s *Simulated) Advance(d time.Duration) { s.Set(s.Now().Add(d)) }

// Sleep blocks until the simulated time reaches now+d or ctx is done.
func (s *Simulated) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	if d <= 0 {
		s.mu.Unlock()
		return ctx.Err()
	}
	return s.waitLocked(ctx, s.now.Add(d))
}

// SleepUntil blocks until the simulated time reaches t (at once when it
// already has) or ctx is done. Unlike Sleep(t.Sub(Now())), the deadline
// is t even when another goroutine advances the clock between reading Now
// and sleeping.
func (s *Simulated) SleepUntil(ctx context.Context, t time.Time) error {
	s.mu.Lock()
	if !s.now.Before(t) {
		s.mu.Unlock()
		return ctx.Err()
	}
	return s.waitLocked(ctx, t)
}

// waitLocked registers a waiter for until, unlocks s.mu and waits.
func (s *Simulated) waitLocked(ctx context.Context, until time.Time) error {
	ch := make(chan struct{})
	s.waiters = append(s.waiters, waiter{until: until, ch: ch})
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	}
}
