package predict

import (
	"time"

	"github.com/crunch-coordinator/coordinator/host"
)

// trackDown records since when each model has been down (not running).
func (w *Worker) trackDown(states []host.ModelState, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range states {
		if st.Running {
			delete(w.downSince, st.ID)
			continue
		}
		if _, ok := w.downSince[st.ID]; !ok {
			w.downSince[st.ID] = now
		}
	}
}

// expired reports whether the model has been down for longer than the grace.
func (w *Worker) expired(id string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	since, down := w.downSince[id]
	if !down || w.cfg.AbsentGrace == 0 {
		return false
	}
	if w.cfg.AbsentGrace < 0 {
		return true
	}
	return now.Sub(since) > w.cfg.AbsentGrace
}
