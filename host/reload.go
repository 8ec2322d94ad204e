package host

import "fmt"

// Reload starts model id again from its binary path, for example after
// `coordinator dev --watch` rebuilt it: a running model is killed and
// relaunched (its calls answer ABSENT meanwhile); a model stopped by the
// stop rules is revived with fresh counters; a disabled model (Disable)
// stays disabled. The other models are not
// touched. It fails for an unknown id and after Close.
func (m *ModelSet) Reload(id string) error {
	s := m.sups[id]
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	s.mu.Lock()
	disabled := s.stopped && s.reason == StopDisabled
	s.mu.Unlock()
	if disabled {
		return nil // an operator's Disable holds until Enable (which starts the new binary)
	}
	return s.reload()
}

// Reload starts the challenge plugin again from its binary path (after a
// rebuild). Calls made meanwhile wait for the new process within their
// deadline. The callable routing chosen at start is kept: a plugin that now
// lists other callables needs a node restart to route them.
func (c *Challenge) Reload() error { return c.sup.reload() }
