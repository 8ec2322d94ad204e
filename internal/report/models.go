package report

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Model status values of /reports/models (field "status").
const (
	ModelRunning    = "running"    // the plugin process is up
	ModelStarting   = "starting"   // not up yet, no failure so far
	ModelRestarting = "restarting" // down after a failure, will be restarted
	ModelFailed     = "failed"     // stopped for good by a stop rule (stop_reason says which)
	ModelStopped    = "stopped"    // stopped for good without a failure reason
	ModelUnknown    = "unknown"    // the supervisor does not know the model
)

// modelStatus classifies a supervisor state; ok false gives ModelUnknown.
func modelStatus(st host.ModelState, ok bool) string {
	switch {
	case !ok:
		return ModelUnknown
	case st.Stopped && st.Reason != "":
		return ModelFailed
	case st.Stopped:
		return ModelStopped
	case st.Running:
		return ModelRunning
	case st.Restarts > 0 || st.LastError != "" || st.ConsecutiveFailures > 0 || st.ConsecutiveTimeouts > 0:
		return ModelRestarting
	default:
		return ModelStarting
	}
}

// modelStates indexes Options.ModelStates by model id.
func (s *server) modelStates() map[string]host.ModelState {
	out := map[string]host.ModelState{}
	if s.opts.ModelStates == nil {
		return out
	}
	for _, st := range s.opts.ModelStates() {
		if st.ID != "" {
			out[st.ID] = st
		}
	}
	return out
}

// modelInfo is what other endpoints join from models and states.
type modelInfo struct {
	name, cruncher string
	status         string
	active         bool
}

// modelIndex loads the stored models and supervisor states keyed by id.
func (s *server) modelIndex(r *http.Request) (map[string]modelInfo, error) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	models, err := s.opts.Store.ListModels(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	states := s.modelStates()
	idx := make(map[string]modelInfo, len(models)+len(states))
	for _, m := range models {
		st, ok := states[m.ID]
		idx[m.ID] = modelInfo{name: m.Name, cruncher: m.PlayerName, status: modelStatus(st, ok), active: ok && st.Running && !st.Stopped}
	}
	for id, st := range states {
		if _, ok := idx[id]; !ok {
			idx[id] = modelInfo{name: st.Name, status: modelStatus(st, true), active: st.Running && !st.Stopped}
		}
	}
	return idx, nil
}

// models serves GET /reports/models: one row per stored model, plus models
// the supervisor knows that are not stored yet, ordered by model_id. Row:
// model_id (non-empty string), model_name, cruncher_name, cruncher_id,
// deployment_id, status (ModelRunning...), active (bool), stop_reason
// (string or null), restarts, consecutive_failures, consecutive_timeouts,
// last_error (string or null), version, created_at, updated_at (null when
// not stored).
func (s *server) models(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.ctx(r)
	defer cancel()
	models, err := s.opts.Store.ListModels(ctx)
	if err != nil {
		return fmt.Errorf("listing models: %w", err)
	}
	states := s.modelStates()
	rows := make([]map[string]any, 0, len(models)+len(states))
	seen := map[string]bool{}
	for _, m := range models {
		if m.ID == "" {
			continue
		}
		seen[m.ID] = true
		st, ok := states[m.ID]
		rows = append(rows, modelRow(m, st, ok))
	}
	for id, st := range states {
		if !seen[id] {
			rows = append(rows, modelRow(store.Model{ID: id, Name: st.Name}, st, true))
		}
	}
	slices.SortFunc(rows, func(a, b map[string]any) int {
		return strings.Compare(a["model_id"].(string), b["model_id"].(string))
	})
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func modelRow(m store.Model, st host.ModelState, ok bool) map[string]any {
	row := map[string]any{
		"model_id":             m.ID,
		"model_name":           m.Name,
		"cruncher_name":        m.PlayerName,
		"cruncher_id":          m.PlayerID,
		"deployment_id":        m.DeploymentID,
		"status":               modelStatus(st, ok),
		"active":               ok && st.Running && !st.Stopped,
		"stop_reason":          nil,
		"restarts":             st.Restarts,
		"consecutive_failures": st.ConsecutiveFailures,
		"consecutive_timeouts": st.ConsecutiveTimeouts,
		"last_error":           nil,
		"version":              st.Version,
		"created_at":           ts(m.CreatedAt),
		"updated_at":           ts(m.UpdatedAt),
	}
	if st.Reason != "" {
		row["stop_reason"] = string(st.Reason)
	}
	if st.LastError != "" {
		row["last_error"] = st.LastError
	}
	if row["model_name"] == "" && st.Name != "" {
		row["model_name"] = st.Name
	}
	return row
}
