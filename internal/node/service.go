package node

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
)

// Service is one part of a running node that the node's lifecycle
// (StartServices, Drain) starts and drains: the predict service (the
// predict loop), the score service (the score, leaderboard and checkpoint
// loops), the report app (the report API's HTTP server) and the live feed
// poller. Start builds the built-in ones from the node's plugins, store and
// clock; a replacement service implements the same interface.
//
// The lifecycle calls Start once, then Drain and Stop once each, from one
// goroutine; Failed may be read at any time.
type Service interface {
	// Start begins the service's work on goroutines the service owns and
	// returns once it runs (the report app: once it listens). ctx bounds
	// the start-up only: the service runs until Drain or Stop. An error
	// means nothing of the service runs.
	Start(ctx context.Context) error
	// Drain stops taking new work and waits for the work in flight (a
	// predict or score cycle, an HTTP request) to finish. It returns nil
	// once every goroutine of the service has ended, or ctx.Err() when ctx
	// ends first; Stop then cancels what is left.
	Drain(ctx context.Context) error
	// Stop cancels whatever is still in flight and returns once every
	// goroutine of the service has ended. It is safe without Start and
	// after Drain.
	Stop() error
	// Failed returns a channel that receives the error that ended the
	// service by itself while it ran (the report app's listener failing);
	// nothing is sent once Drain or Stop was called.
	Failed() <-chan error
}

// ReportApp is the service that serves the report API: a Service that
// also tells where it listens.
type ReportApp interface {
	Service
	// Addr is the address the app listens on, nil before Start.
	Addr() net.Addr
}

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
