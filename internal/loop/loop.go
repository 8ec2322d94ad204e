// Package loop is the run loop the node's workers share (predict, score,
// checkpoint and the feed poller): run one cycle, wait on the clock for as
// long as the cycle's outcome says, repeat until the context is done.
package loop

import (
	"context"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
)

// Run calls once until ctx is done. After each call that returns while ctx
// is still live, wait(result, err) gives the pause before the next call
// (the caller logs err there and picks its retry or next-slot interval);
// Run then sleeps on c for that long. A wait of zero or less starts the next
// call at once. Run returns ctx.Err() when ctx is done, checked after every
// call and during every sleep; wait is never called for a call that ended
// because ctx was done.
func Run[R any](ctx context.Context, c clock.Clock, once func(context.Context) (R, error), wait func(R, error) time.Duration) error {
	for {
		res, err := once(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.Sleep(ctx, wait(res, err)); err != nil {
			return err
		}
	}
}
