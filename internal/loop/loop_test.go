package loop_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/loop"
)

// recordingClock records every sleep and returns at once; after stopAfter
// sleeps it cancels the loop's context, as a shutdown during a wait would.
type recordingClock struct {
	slept     []time.Duration
	stopAfter int
	cancel    context.CancelFunc
}

func (c *recordingClock) Now() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func (c *recordingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	if len(c.slept) == c.stopAfter {
		c.cancel()
	}
	return ctx.Err()
}

// TestRunWaitsWhatTheOutcomeSays: each pause comes from the previous
// cycle's result or error, and a shutdown during a pause ends Run with
// ctx.Err() without another cycle.
func TestRunWaitsWhatTheOutcomeSays(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &recordingClock{stopAfter: 4, cancel: cancel}
	boom := errors.New("boom")
	outcomes := []struct {
		res time.Duration
		err error
	}{{10 * time.Second, nil}, {0, boom}, {-time.Second, nil}, {30 * time.Second, nil}, {time.Hour, nil}}
	var cycles int
	var sawErrs []error
	err := loop.Run(ctx, clk,
		func(context.Context) (time.Duration, error) {
			o := outcomes[cycles]
			cycles++
			return o.res, o.err
		},
		func(res time.Duration, err error) time.Duration {
			sawErrs = append(sawErrs, err)
			if err != nil {
				return 5 * time.Second
			}
			return res
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if want := []time.Duration{10 * time.Second, 5 * time.Second, -time.Second, 30 * time.Second}; !slices.Equal(clk.slept, want) {
		t.Fatalf("slept %v, want %v", clk.slept, want)
	}
	if cycles != 4 {
		t.Fatalf("ran %d cycles, want 4 (none after the cancelled wait)", cycles)
	}
	if want := []error{nil, boom, nil, nil}; !slices.Equal(sawErrs, want) {
		t.Fatalf("wait saw errors %v, want %v", sawErrs, want)
	}
}

// TestRunStopsWithoutWaitWhenCancelledDuringCycle: a cycle that ends
// because ctx is done is not passed to wait, and Run returns ctx.Err().
func TestRunStopsWithoutWaitWhenCancelledDuringCycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &recordingClock{cancel: cancel}
	err := loop.Run(ctx, clk,
		func(ctx context.Context) (int, error) {
			cancel()
			return 0, ctx.Err()
		},
		func(int, error) time.Duration {
			t.Error("wait called for a cancelled cycle")
			return time.Second
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if len(clk.slept) != 0 {
		t.Fatalf("slept %v after a cancelled cycle, want no sleep", clk.slept)
	}
}
