package host

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// stderrLogSize bounds the stderr kept per model across generations
// (ModelSet.Stderr): the newest 256 KiB.
const stderrLogSize = 256 << 10

// errDisabled is the last error of a model an operator disabled.
var errDisabled = errors.New("disabled by an operator")

// Disable takes model id out until Enable: its process is stopped, its
// calls answer ABSENT (the non-answer rules apply to its slots) and its
// state is Stopped with Reason StopDisabled. It is the stop path of the
// stop rules, with an operator as the cause; a model the stop rules had
// already stopped keeps its last error and is marked disabled. Disabling
// a disabled model does nothing. It fails for an unknown id.
func (m *ModelSet) Disable(id string) error {
	s := m.sup(id)
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: closed", ErrStopped)
	}
	if s.stopped {
		if s.reason != StopDisabled {
			s.reason, s.stateSince = StopDisabled, time.Now().UTC()
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.stopFor(StopDisabled, StatusAbsent, errDisabled)
	return nil
}

// Enable lets model id run again: a stopped model (disabled, or stopped
// by the stop rules) or one cooling down is started afresh with reset
// counters (the path of Reload); a running or restarting model is left
// alone. It fails for an unknown id and after Close.
func (m *ModelSet) Enable(id string) error {
	s := m.sup(id)
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	s.mu.Lock()
	out := s.stopped || s.cooling
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: closed", ErrStopped)
	}
	if !out {
		return nil
	}
	return s.reload(nil)
}

// Stderr returns the newest stderr of model id across its generations (at
// most 256 KiB, oldest lines dropped), one line per line written, with a
// line "<time> coordinator: generation N starting" before each process's
// output. It fails for an unknown id.
func (m *ModelSet) Stderr(id string) (string, error) {
	s := m.sup(id)
	if s == nil {
		return "", fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	if s.spec.stderrLog == nil {
		return "", nil
	}
	return s.spec.stderrLog.Tail(stderrLogSize), nil
}

// markGeneration writes the start line of generation gen to the model's
// stderr log.
func (s *supervisor) markGeneration(gen int) {
	if s.spec.stderrLog != nil {
		_, _ = fmt.Fprintf(s.spec.stderrLog, "%s coordinator: generation %d starting", time.Now().UTC().Format(time.RFC3339), gen)
	}
}

// teeRing sends a plugin's raw stderr to its instance's ring and, when
// set, to the model's stderr log.
func teeRing(ring *ringBuffer, log *ringBuffer) io.Writer {
	if log == nil {
		return ring
	}
	return io.MultiWriter(ring, log)
}

// teeLines adds the model's stderr log (split into lines) to w.
func teeLines(w io.Writer, log *ringBuffer) io.Writer {
	if log == nil {
		return w
	}
	return io.MultiWriter(w, lineRing{log})
}
