package host

import (
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// record applies the stop rules to one classified result and reports
// whether the plugin is now stopped. Outcomes with charge false, and every
// outcome of a plugin without stop rules, change nothing.
//
// A successful Tick does not reset the counters: Tick only delivers data,
// so a model that accepts every Tick but crashes or fails on every Predict
// must still reach MULTIPLE_FAILED (a success of any other call resets).
func (s *supervisor) record(name string, st Status, charge bool, err error) bool {
	if !charge {
		return false
	}
	s.mu.Lock()
	if err != nil {
		s.lastErr = err.Error()
	}
	if !s.stopRules || s.stopped {
		stopped := s.stopped
		s.mu.Unlock()
		return stopped
	}
	var reason StopReason
	switch st {
	case StatusSuccess:
		// With ConfirmOutputs a Predict answer resets only once confirmed
		// valid (confirmOutput).
		if name != sdk.MethodTick && !(name == sdk.MethodPredict && s.opts.ConfirmOutputs) {
			s.consecFail, s.consecTO = 0, 0
		}
	case StatusFailed, StatusCrashed:
		s.consecFail++
		if max := s.opts.MaxConsecutiveFailures; max >= 0 && s.consecFail > max {
			reason = StopMultipleFailed
		}
	case StatusTimeout:
		s.consecTO++
		if max := s.opts.MaxConsecutiveTimeouts; max >= 0 && s.consecTO > max {
			reason = StopMultipleTimeout
		}
	case StatusBadImplementation:
		reason = StopBadImplementation
	}
	s.mu.Unlock()
	switch reason {
	case "":
		return false
	case StopMultipleFailed, StopMultipleTimeout:
		s.coolDown(reason, st, err)
		return false
	}
	s.stopFor(reason, st, err)
	return true
}

// coolDown takes the model out after MULTIPLE_FAILED or MULTIPLE_TIMEOUT:
// calls answer ABSENT (ErrCoolingDown) until the cool-down ends, the
// current process is killed, and the loop re-admits the model with a
// fresh process (sleepBackoff, readmit). The cool-down of the n-th in a
// row lasts CooldownMin*2^(n-1), capped at CooldownMax, with jitter.
func (s *supervisor) coolDown(reason StopReason, st Status, err error) {
	s.mu.Lock()
	if s.cooling || s.stopped || s.closed {
		s.mu.Unlock()
		return
	}
	s.cooling, s.reason = true, reason
	s.coolStreak++
	s.cooldowns++
	d := backoff(s.coolStreak, s.opts.CooldownMin, s.opts.CooldownMax)
	now := time.Now().UTC()
	s.stateSince, s.nextRetry = now, now.Add(d)
	if err != nil {
		s.lastErr = err.Error()
	}
	if !s.readyClosed { // wake waiters: acquire now answers ErrCoolingDown
		close(s.ready)
		s.readyClosed = true
	}
	in, gen := s.cur, s.gen
	cf, ct, n := s.consecFail, s.consecTO, s.cooldowns
	s.mu.Unlock()
	s.log.Error("model taken out for a cool-down", "generation", gen, "failure_code", string(reason), "status", string(st),
		"consecutive_failures", cf, "consecutive_timeouts", ct, "cooldown", d.String(), "next_retry", now.Add(d), "cooldowns", n, "reason", errString(err))
	s.emit(Event{Time: now, Kind: EventCooldown, PluginID: s.spec.ID, Generation: gen, Status: st, Reason: reason, Delay: d, Err: err})
	if in != nil {
		s.requestRestart(in, st, err)
	}
}

// stopFor stops the plugin for good: no more calls, no restart. The loop
// SIGKILLs the current instance's process group.
func (s *supervisor) stopFor(reason StopReason, st Status, err error) {
	s.mu.Lock()
	if s.stopped || s.closed {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.reason = reason
	s.cooling = false
	s.stateSince, s.nextRetry = time.Now().UTC(), time.Time{}
	if s.cur != nil {
		s.cur.retired.Store(true)
		s.cur = nil // the loop kills it
	}
	if err != nil {
		s.lastErr = err.Error()
	}
	if !s.readyClosed {
		close(s.ready)
		s.readyClosed = true
	}
	gen := s.gen
	cf, ct := s.consecFail, s.consecTO
	cancel := s.cancel
	s.mu.Unlock()
	s.log.Error("plugin stopped", "generation", gen, "failure_code", string(reason), "status", string(st),
		"consecutive_failures", cf, "consecutive_timeouts", ct, "reason", errString(err))
	s.emit(Event{Time: time.Now().UTC(), Kind: EventStopped, PluginID: s.spec.ID, Generation: gen, Status: st, Reason: reason, Err: err})
	cancel()
}
