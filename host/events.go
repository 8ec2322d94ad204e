package host

import (
	"context"
	"time"
)

// event logs a lifecycle event with the plugin id, failure code and reason,
// and forwards it to Options.OnEvent.
func (s *supervisor) event(kind EventKind, gen int, st Status, reason StopReason, delay time.Duration, err error) {
	args := []any{"generation", gen}
	if st != "" {
		args = append(args, "failure_code", string(st))
	}
	if reason != "" {
		args = append(args, "stop_reason", string(reason))
	}
	if delay > 0 {
		args = append(args, "backoff", delay.String())
	}
	if err != nil {
		args = append(args, "reason", err.Error())
	}
	switch kind {
	case EventStarted:
		s.log.Info("plugin started", args...)
	case EventRestart:
		s.log.Warn("plugin restart scheduled", args...)
	case EventExited:
		s.log.Warn("plugin process exited", args...)
	default:
		s.log.Warn("plugin "+string(kind), args...)
	}
	s.emit(Event{Time: time.Now().UTC(), Kind: kind, PluginID: s.spec.ID, Generation: gen, Status: st, Reason: reason, Delay: delay, Err: err})
}

func (s *supervisor) emit(e Event) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(e)
	}
}

// waitReady blocks until a generation is ready, the plugin is stopped or
// closed, or ctx ends.
func (s *supervisor) waitReady(ctx context.Context) error {
	_, err := s.acquire(ctx, true)
	return err
}

func (s *supervisor) state() ModelState {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.mdesc.ModelName
	var deployment, playerID, playerName string
	if r := s.spec.Remote; r != nil {
		deployment, playerID, playerName = r.Deployment, r.PlayerID, r.PlayerName
		if r.ModelName != "" {
			name = r.ModelName
		}
	}
	return ModelState{
		ID:                  s.spec.ID,
		Name:                name,
		Version:             s.mdesc.ModelVersion,
		Running:             s.cur != nil && !s.cur.exited(),
		Stopped:             s.stopped,
		Reason:              s.reason,
		CoolingDown:         s.cooling,
		Cooldowns:           s.cooldowns,
		StateSince:          s.stateSince,
		NextRetry:           s.nextRetry,
		Restarts:            s.restarts,
		Generation:          s.gen,
		ConsecutiveFailures: s.consecFail,
		ConsecutiveTimeouts: s.consecTO,
		LastError:           s.lastErr,
		Deployment:          deployment,
		PlayerID:            playerID,
		PlayerName:          playerName,
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
