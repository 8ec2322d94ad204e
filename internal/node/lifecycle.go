package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultDrainTimeout bounds how long in-flight cycles may run after a
// drain starts before they are cancelled.
const DefaultDrainTimeout = 30 * time.Second

// RunOptions control StartServices.
type RunOptions struct {
	// Replay starts the report app and the services replaced by a factory
	// only: the caller drives the built-in predict and score cycles itself
	// with Replay.
	Replay bool
}

// StartServices starts the services of the node's roles, in this order:
// the report app (RoleReport; it listens on the workspace's API_ADDR), the
// live feed poller (RolePredict with Config.LiveFeed; its first sync runs
// before StartServices returns), the predict service (RolePredict) and the
// score service (RoleScore). With opts.Replay the feed poller and the
// built-in predict and score services do not start (Replay drives those
// cycles); a predict or score service replaced by a factory starts as it
// would live, on the node's (simulated) clock.
// It is the one start-up path of `coordinator dev` and `coordinator serve`.
// On error the services started so far are stopped; the plugins keep
// running until Drain or Close.
func (n *Node) StartServices(ctx context.Context, opts RunOptions) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.started {
		return errors.New("node: StartServices called twice or after Close")
	}
	n.started = true
	var plan []namedService
	if n.report != nil {
		plan = append(plan, namedService{ServiceReport, n.report})
	}
	if !opts.Replay && n.feed != nil {
		plan = append(plan, namedService{ServiceFeed, n.feed})
	}
	if n.predictSvc != nil && (!opts.Replay || n.isReplaced(ServicePredict)) {
		plan = append(plan, namedService{ServicePredict, n.predictSvc})
	}
	if n.scoreSvc != nil && (!opts.Replay || n.isReplaced(ServiceScore)) {
		plan = append(plan, namedService{ServiceScore, n.scoreSvc})
	}
	for _, s := range plan {
		if err := s.svc.Start(ctx); err != nil {
			for i := len(n.running) - 1; i >= 0; i-- {
				_ = n.running[i].svc.Stop()
			}
			n.running = nil
			return err
		}
		n.running = append(n.running, s)
		n.watchFailure(s)
	}
	return nil
}

// watchFailure forwards the first runtime failure of s to n.failed until
// the drain starts.
func (n *Node) watchFailure(s namedService) {
	ch := s.svc.Failed()
	if ch == nil {
		return
	}
	n.watchers.Add(1)
	go func() {
		defer n.watchers.Done()
		select {
		case err := <-ch:
			select {
			case n.failed <- fmt.Errorf("%s service stopped: %w", s.name, err):
			default:
			}
		case <-n.draining:
		}
	}()
}

// Failed returns a channel that receives the first error of a service that
// stopped by itself (the report API's server failing): the caller then
// drains the node.
func (n *Node) Failed() <-chan error { return n.failed }

// APIAddr returns the report app's bound address, nil without RoleReport
// or before StartServices.
func (n *Node) APIAddr() net.Addr {
	if n.report == nil {
		return nil
	}
	return n.report.Addr()
}

// Drain shuts the node down gracefully: every running service stops taking
// new work and finishes what is in flight (the cycles of the loops, the
// report API's requests), all within timeout (DefaultDrainTimeout when
// <= 0); then what is left is cancelled, and finally the plugins stop. It
// is the one shutdown path of dev and serve, safe to call more than once
// and without StartServices. It returns the services' stop errors and
// the plugins' close error, joined.
func (n *Node) Drain(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultDrainTimeout
	}
	n.mu.Lock()
	running := n.running
	n.running = nil
	n.mu.Unlock()
	n.drainOnce.Do(func() { close(n.draining) })
	var errs []error
	if len(running) > 0 {
		n.log.Info("shutting down: finishing in-flight cycles, then stopping plugins", "drain_timeout", timeout)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		var wg sync.WaitGroup
		for _, s := range running {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.svc.Drain(ctx)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			n.log.Warn("drain timeout reached: cancelling the in-flight cycles", "drain_timeout", timeout)
		}
		cancel()
		for i := len(running) - 1; i >= 0; i-- {
			if err := running[i].svc.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop the %s service: %w", running[i].name, err))
			}
		}
	}
	n.watchers.Wait()
	errs = append(errs, n.Close())
	return errors.Join(errs...)
}
