package host

import "fmt"

// Reload starts model id again from its binary path, for example after
// `coordinator dev --watch` rebuilt it: a running model is killed and
// relaunched (its calls answer ABSENT meanwhile); a model stopped by the
// stop rules is revived with fresh counters; a disabled model (Disable)
// stays disabled. The other models are not touched. The binary must still
// have the spec's SHA-256 (when set). It fails for an unknown id and after
// Close.
func (m *ModelSet) Reload(id string) error { return m.reload(id, nil) }

// ReloadSHA256 is Reload for a rebuilt model whose binary (or Python code)
// now has the SHA-256 sha256Hex, which every later launch checks (also
// the Enable of a disabled model).
func (m *ModelSet) ReloadSHA256(id, sha256Hex string) error { return m.reload(id, &sha256Hex) }

func (m *ModelSet) reload(id string, sha256Hex *string) error {
	s := m.sup(id)
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	s.mu.Lock()
	disabled := s.stopped && s.reason == StopDisabled
	if disabled && sha256Hex != nil {
		s.sha256 = *sha256Hex
	}
	s.mu.Unlock()
	if disabled {
		return nil // an operator's Disable holds until Enable (which starts the new binary)
	}
	return s.reload(sha256Hex)
}

// Reload starts the challenge plugin again from its binary path (after a
// rebuild). Calls made meanwhile wait for the new process within their
// deadline. The callable routing chosen at start is kept: a plugin that now
// lists other callables needs a node restart to route them.
func (c *Challenge) Reload() error { return c.sup.reload(nil) }

// ReloadSHA256 is Reload for a rebuilt challenge plugin whose binary now
// has the SHA-256 sha256Hex, which every later launch checks.
func (c *Challenge) ReloadSHA256(sha256Hex string) error { return c.sup.reload(&sha256Hex) }
