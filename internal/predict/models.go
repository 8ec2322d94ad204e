package predict

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// modelRows returns the model rows to upsert: models that predicted in this
// cycle and are new or whose name, deployment or player fields changed.
// Empty values never overwrite stored ones and a missing name becomes the
// model id (never the text "None", reference defect 14.2 #21).
func (w *Worker) modelRows(ctx context.Context, seen map[string]bool, states []host.ModelState, now time.Time) ([]store.Model, error) {
	byID, err := w.knownModels(ctx, seen)
	if err != nil {
		return nil, err
	}
	described := map[string]host.ModelState{}
	for _, st := range states {
		described[st.ID] = st
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []store.Model
	for _, id := range ids {
		old, found := byID[id]
		m := store.Model{ID: id, Name: old.Name, DeploymentID: old.DeploymentID, PlayerID: old.PlayerID, PlayerName: old.PlayerName}
		if dir, ok := w.cfg.Directory[id]; ok {
			m.Name = firstNonEmpty(dir.Name, m.Name)
			m.DeploymentID = firstNonEmpty(dir.DeploymentID, m.DeploymentID)
			m.PlayerID = firstNonEmpty(dir.PlayerID, m.PlayerID)
			m.PlayerName = firstNonEmpty(dir.PlayerName, m.PlayerName)
		}
		if st := described[id]; st.Deployment != "" {
			// An orchestrator model: its current deployment and owner
			// replace the stored ones.
			m.DeploymentID = st.Deployment
			m.Name = firstNonEmpty(st.Name, m.Name)
			m.PlayerID = firstNonEmpty(st.PlayerID, m.PlayerID)
			m.PlayerName = firstNonEmpty(st.PlayerName, m.PlayerName)
		}
		m.Name = firstNonEmpty(m.Name, described[id].Name, id)
		if found && m.Name == old.Name && m.DeploymentID == old.DeploymentID && m.PlayerID == old.PlayerID && m.PlayerName == old.PlayerName {
			continue
		}
		m.UpdatedAt = now
		if !found {
			m.CreatedAt = now
		} else {
			m.CreatedAt = old.CreatedAt
		}
		out = append(out, m)
	}
	return out, nil
}

// knownModels returns the stored model rows by id: the worker's copy, read
// from the store on first use and again whenever a model in seen is not in
// it (a model this worker has not stored yet may have been stored by
// another process).
func (w *Worker) knownModels(ctx context.Context, seen map[string]bool) (map[string]store.Model, error) {
	w.cacheMu.Lock()
	fresh := w.models != nil
	for id := range seen {
		if _, ok := w.models[id]; !ok {
			fresh = false
			break
		}
	}
	if fresh {
		byID := make(map[string]store.Model, len(w.models))
		for id, m := range w.models {
			byID[id] = m
		}
		w.cacheMu.Unlock()
		return byID, nil
	}
	w.cacheMu.Unlock()
	existing, err := w.cfg.Store.ListModels(ctx)
	if err != nil {
		return nil, fmt.Errorf("predict cycle: list models: %w", err)
	}
	byID := make(map[string]store.Model, len(existing))
	for _, m := range existing {
		byID[m.ID] = m
	}
	w.cacheMu.Lock()
	w.models = make(map[string]store.Model, len(byID))
	for id, m := range byID {
		w.models[id] = m
	}
	w.cacheMu.Unlock()
	return byID, nil
}

// noteModels records model rows this worker stored.
func (w *Worker) noteModels(ms []store.Model) {
	if len(ms) == 0 {
		return
	}
	w.cacheMu.Lock()
	defer w.cacheMu.Unlock()
	if w.models == nil {
		return // never read: the next cycle reads the store
	}
	for _, m := range ms {
		w.models[m.ID] = m
	}
}

// forgetModels drops the worker's copy of the stored model rows (a save
// failed after noteModels): the next cycle reads the store.
func (w *Worker) forgetModels() {
	w.cacheMu.Lock()
	defer w.cacheMu.Unlock()
	w.models = nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
