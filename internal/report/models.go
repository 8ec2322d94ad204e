package report

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Model status values of /reports/models (field "status").
const (
	ModelRunning    = "running"      // the plugin process is up
	ModelStarting   = "starting"     // not up yet, no failure so far
	ModelRestarting = "restarting"   // down after a failure, will be restarted
	ModelCooling    = "cooling_down" // taken out by MULTIPLE_FAILED / MULTIPLE_TIMEOUT (stop_reason), re-admitted at next_retry_at
	ModelFailed     = "failed"       // stopped for good by a stop rule (stop_reason says which)
	ModelStopped    = "stopped"      // stopped for good without a failure reason
	ModelUnknown    = "unknown"      // the supervisor does not know the model
)

// modelStatus classifies a supervisor state; ok false gives ModelUnknown.
func modelStatus(st host.ModelState, ok bool) string {
	switch {
	case !ok:
		return ModelUnknown
	case st.CoolingDown:
		return ModelCooling
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

// storedModels returns the stored models, read from the store at most once
// per Options.CacheTTL (the list is shared and must not be modified).
func (s *server) storedModels(ctx context.Context) ([]store.Model, error) {
	return s.modelList.get(ctx, s.opts.QueryTimeout, func(ctx context.Context) ([]store.Model, error) {
		models, err := s.opts.Store.ListModels(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing models: %w", err)
		}
		return models, nil
	})
}

// modelIndex joins the stored models (see storedModels) with the current
// supervisor states, keyed by model id.
func (s *server) modelIndex(ctx context.Context) (map[string]modelInfo, error) {
	models, err := s.storedModels(ctx)
	if err != nil {
		return nil, err
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
// (string or null: why it is cooling down or stopped), restarts,
// cooldowns, consecutive_failures, consecutive_timeouts, last_error
// (string or null), state_since (when the status began, or null),
// next_retry_at (when a restarting or cooling-down model starts again, or
// null), version, created_at, updated_at (null when not stored).
//
// The encoded answer is shared by all requests for Options.CacheTTL, so a
// model's status is at most that old.
func (s *server) models(w http.ResponseWriter, r *http.Request) error {
	body, err := s.modelsBody.get(r.Context(), s.opts.QueryTimeout, s.loadModels)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, body)
	return nil
}

// loadModels encodes the /reports/models answer from the stored models and
// the supervisor states.
func (s *server) loadModels(ctx context.Context) ([]byte, error) {
	models, err := s.storedModels(ctx)
	if err != nil {
		return nil, err
	}
	states := s.modelStates()
	rows := make([]modelRowJSON, 0, len(models)+len(states))
	seen := make(map[string]bool, len(models))
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
	slices.SortFunc(rows, func(a, b modelRowJSON) int { return strings.Compare(a.ModelID, b.ModelID) })
	var enc jsonEncoder
	body, err := enc.append(make([]byte, 0, 384*len(rows)+3), rows)
	if err != nil {
		return nil, fmt.Errorf("encoding %d model rows: %w", len(rows), err)
	}
	return append(body, '\n'), nil
}

// modelRowJSON is one /reports/models row. Fields are declared in key
// order, so the encoding equals that of the same row as a map.
type modelRowJSON struct {
	Active              bool    `json:"active"`
	ConsecutiveFailures int     `json:"consecutive_failures"`
	ConsecutiveTimeouts int     `json:"consecutive_timeouts"`
	Cooldowns           int     `json:"cooldowns"`
	CreatedAt           *string `json:"created_at"`
	CruncherID          string  `json:"cruncher_id"`
	CruncherName        string  `json:"cruncher_name"`
	DeploymentID        string  `json:"deployment_id"`
	LastError           *string `json:"last_error"`
	ModelID             string  `json:"model_id"`
	ModelName           string  `json:"model_name"`
	NextRetryAt         *string `json:"next_retry_at"`
	Restarts            int     `json:"restarts"`
	StateSince          *string `json:"state_since"`
	Status              string  `json:"status"`
	StopReason          *string `json:"stop_reason"`
	UpdatedAt           *string `json:"updated_at"`
	Version             string  `json:"version"`
}

// tsString is ts for struct fields: nil for the zero time.
func tsString(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format(TimeLayout)
	return &v
}

func modelRow(m store.Model, st host.ModelState, ok bool) modelRowJSON {
	row := modelRowJSON{
		ModelID:             m.ID,
		ModelName:           m.Name,
		CruncherName:        m.PlayerName,
		CruncherID:          m.PlayerID,
		DeploymentID:        m.DeploymentID,
		Status:              modelStatus(st, ok),
		Active:              ok && st.Running && !st.Stopped,
		Restarts:            st.Restarts,
		ConsecutiveFailures: st.ConsecutiveFailures,
		ConsecutiveTimeouts: st.ConsecutiveTimeouts,
		Cooldowns:           st.Cooldowns,
		StateSince:          tsString(st.StateSince),
		NextRetryAt:         tsString(st.NextRetry),
		Version:             st.Version,
		CreatedAt:           tsString(m.CreatedAt),
		UpdatedAt:           tsString(m.UpdatedAt),
	}
	if st.Reason != "" {
		reason := string(st.Reason)
		row.StopReason = &reason
	}
	if st.LastError != "" {
		lastErr := st.LastError
		row.LastError = &lastErr
	}
	if row.ModelName == "" && st.Name != "" {
		row.ModelName = st.Name
	}
	return row
}
