package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/extend"
	"github.com/crunch-coordinator/coordinator/internal/clock"
)

// Service is one part of a running node that the node's lifecycle
// (StartServices, Drain) starts and drains: the predict service, the score
// service, the report app and the live feed poller. It is the public
// extend.Service, so a replacement service selected by
// PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY or REPORT_APP_FACTORY
// plugs into the same lifecycle.
type Service = extend.Service

// ReportApp is the service that serves the report API (extend.ReportApp).
type ReportApp = extend.ReportApp

// Service names, in start-up order; they name the services in logs and
// errors.
const (
	ServiceReport  = "report"
	ServiceFeed    = "feed"
	ServicePredict = "predict"
	ServiceScore   = "score"
)

// namedService is a service in the node's start-up order.
type namedService struct {
	name string
	svc  Service
}

// worker is one loop of a loopService: predict.Worker.Run,
// score.Worker.Run, checkpoint.Worker.Run.
type worker struct {
	name string
	run  func(context.Context) error
}

// loopService runs worker loops on a drainClock: Drain ends their sleeps
// while the cycle in flight finishes on a context of its own; Stop cancels
// that context.
type loopService struct {
	log     hclog.Logger
	clock   *drainClock
	workers []worker

	cancel context.CancelFunc
	done   chan struct{}
}

// newLoopService returns a loop service whose workers must be built on
// s.clock (the node's clock, with drain).
func newLoopService(base clock.Clock, log hclog.Logger) *loopService {
	return &loopService{log: log, clock: newDrainClock(base)}
}

func (s *loopService) add(name string, run func(context.Context) error) {
	s.workers = append(s.workers, worker{name, run})
}

// Start runs every worker loop on its own goroutine.
func (s *loopService) Start(ctx context.Context) error {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(work); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("worker stopped", "worker", w.name, "error", err)
			}
		}()
	}
	go func() { wg.Wait(); close(s.done) }()
	return nil
}

// Drain ends the loops' sleeps and waits for the cycles in flight.
func (s *loopService) Drain(ctx context.Context) error {
	s.clock.drain()
	if s.done == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop cancels the cycles in flight and waits for the loops to return.
func (s *loopService) Stop() error {
	s.clock.drain()
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}

// Failed never fires: a worker loop logs its errors and goes on.
func (s *loopService) Failed() <-chan error { return nil }

// drainClock is a clock whose Sleep also ends (with context.Canceled) once
// the drain started: the worker loops get a work context that outlives the
// drain request, finish the cycle they are in, and return at their next
// sleep. Now is the base clock's.
type drainClock struct {
	base  clock.Clock
	stop  context.Context
	drain context.CancelFunc
}

func newDrainClock(base clock.Clock) *drainClock {
	stop, drain := context.WithCancel(context.Background())
	return &drainClock{base: base, stop: stop, drain: drain}
}

// Now returns the base clock's time.
func (c *drainClock) Now() time.Time { return c.base.Now() }

// Sleep waits for d on the base clock, until ctx is done (ctx.Err()) or
// until the drain starts (context.Canceled).
func (c *drainClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.stop.Err() != nil {
		return context.Canceled
	}
	if d <= 0 {
		return ctx.Err()
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(c.stop, cancel)
	defer unhook()
	err := c.base.Sleep(sctx, d)
	if err != nil && ctx.Err() == nil && c.stop.Err() != nil {
		return context.Canceled
	}
	return err
}
