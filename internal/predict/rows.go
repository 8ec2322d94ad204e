package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

type rowTiming struct{ Predict, Validate time.Duration }

// rowCall builds the scope and the predict call of one due row.
func (w *Worker) rowCall(ctx context.Context, d dueRow, input json.RawMessage) (sdk.ScopeEnvelope, sdk.PredictCall, error) {
	cfg := d.cfg
	scope, err := w.cfg.Challenge.BuildPredictionScope(ctx, cfg, input)
	if err != nil {
		return scope, sdk.PredictCall{}, callableErr(sdk.CallableBuildPredictionScope, cfg.ID, err)
	}
	call, err := w.cfg.Challenge.BuildPredictCall(ctx, cfg, input, scope)
	if err != nil {
		return scope, call, callableErr(sdk.CallableBuildPredictCall, cfg.ID, err)
	}
	return scope, call, nil
}

// predictRow builds the scope and call of one due row, calls every model and
// returns one prediction per known model (minus models past the grace).
func (w *Worker) predictRow(ctx context.Context, d dueRow, now time.Time, input json.RawMessage, inputObj map[string]json.RawMessage, states []host.ModelState) ([]store.Prediction, rowTiming, error) {
	var tm rowTiming
	t := time.Now()
	scope, call, err := w.rowCall(ctx, d, input)
	if err != nil {
		return nil, tm, err
	}
	results := w.cfg.Models.Predict(ctx, call.Args, call.Kwargs)
	tm.Predict = time.Since(t)
	if ctx.Err() != nil {
		return nil, tm, ctx.Err()
	}
	preds, vt, err := w.rowPredictions(ctx, d, now, scope, results, inputObj, states)
	tm.Validate = vt
	return preds, tm, err
}

// rowPredictions turns one due row's Predict results into one prediction
// per known model (minus models past the grace), validating the SUCCESS
// outputs in one batch; it returns the validation's duration.
func (w *Worker) rowPredictions(ctx context.Context, d dueRow, now time.Time, scope sdk.ScopeEnvelope, results map[string]host.CallResult, inputObj map[string]json.RawMessage, states []host.ModelState) ([]store.Prediction, time.Duration, error) {
	var validate time.Duration
	cfg := d.cfg

	// Inference input stored with every prediction: the input plus _scope.
	withScope := make(map[string]json.RawMessage, len(inputObj)+1)
	for k, v := range inputObj {
		withScope[k] = v
	}
	envJSON, err := json.Marshal(scope)
	if err != nil {
		return nil, validate, fmt.Errorf("encode scope envelope of schedule %q: %w", cfg.ID, err)
	}
	withScope["_scope"] = envJSON
	storedInput, err := jsonx.MarshalObject(withScope) // json.Marshal's bytes
	if err != nil {
		return nil, validate, fmt.Errorf("encode inference input of schedule %q: %w", cfg.ID, err)
	}

	// Known models, in id order: every model the host knows plus any model
	// that answered.
	stateByID := map[string]host.ModelState{}
	ids := map[string]bool{}
	for _, st := range states {
		stateByID[st.ID] = st
		ids[st.ID] = true
	}
	for id := range results {
		ids[id] = true
	}
	order := make([]string, 0, len(ids))
	for id := range ids {
		order = append(order, id)
	}
	sort.Strings(order)

	type draft struct {
		id      string
		status  string
		output  json.RawMessage
		errMsg  string
		execMs  float64
		itemIdx int // index into the validation batch, -1 when not validated
	}
	var drafts []draft
	var items []sdk.ValidationItem
	for _, id := range order {
		r, answered := results[id]
		if (!answered || r.Status == host.StatusAbsent) && w.expired(id, now) {
			continue
		}
		dr := draft{id: id, itemIdx: -1, output: json.RawMessage(`{}`)}
		if !answered {
			dr.status = store.StatusAbsent
			dr.errMsg = "model did not answer the predict call"
			if st, ok := stateByID[id]; ok && !st.Running {
				dr.errMsg = "model is not running"
				if st.Stopped {
					dr.errMsg = fmt.Sprintf("model stopped (%s)", st.Reason)
				}
			}
			drafts = append(drafts, dr)
			continue
		}
		dr.execMs = float64(r.Duration) / float64(time.Millisecond)
		if math.IsNaN(dr.execMs) || math.IsInf(dr.execMs, 0) || dr.execMs < 0 {
			dr.execMs = 0
		}
		dr.status = statusOf(r.Status)
		if dr.status != store.StatusSuccess {
			dr.errMsg = boundText(errString(r.Err))
			if dr.status == store.StatusFailed && r.Status != host.StatusFailed {
				dr.errMsg = fmt.Sprintf("unknown call status %q: %s", r.Status, dr.errMsg)
			}
			drafts = append(drafts, dr)
			continue
		}
		dr.output = normaliseOutput(r.Output)
		dr.itemIdx = len(items)
		items = append(items, sdk.ValidationItem{ModelID: id, ScopeKey: scope.ScopeKey, InferenceOutput: dr.output})
		drafts = append(drafts, dr)
	}

	if len(items) > 0 {
		t := time.Now()
		verdicts, err := w.cfg.Challenge.ValidateInferenceOutput(ctx, items)
		validate = time.Since(t)
		if err != nil {
			return nil, validate, callableErr(sdk.CallableValidateInferenceOutput, cfg.ID, err)
		}
		for i := range drafts {
			dr := &drafts[i]
			if dr.itemIdx < 0 {
				continue
			}
			v := verdicts[dr.itemIdx]
			msg := v.Error
			if msg == "" && v.Output != nil {
				dr.output = jsonx.Compact(v.Output) // an object (wire.Checked)
			}
			if msg != "" {
				rec := invalidOutput(msg, dr.output)
				w.log.Error("INFERENCE_OUTPUT_VALIDATION_ERROR", "model_id", dr.id, "scope_key", scope.ScopeKey, "schedule_id", cfg.ID,
					"error", rec.Error, "raw_output_head", rec.Head, "raw_output_bytes", rec.Bytes, "raw_output_sha256", rec.SHA256)
				wrapped, err := json.Marshal(rec)
				if err != nil {
					return nil, validate, fmt.Errorf("encode validation failure of model %q: %w", dr.id, err)
				}
				dr.status = store.StatusFailed
				dr.errMsg = "output validation failed"
				dr.output = wrapped
				w.cfg.Models.ConfirmOutput(dr.id, errors.New(msg))
				continue
			}
			w.cfg.Models.ConfirmOutput(dr.id, nil)
		}
	}

	resolvable := now.Add(schedule.Horizon(cfg))
	preds := make([]store.Prediction, 0, len(drafts))
	for _, dr := range drafts {
		meta := map[string]any{"slot": d.slot.Format(time.RFC3339)}
		if dr.errMsg != "" {
			meta["error"] = dr.errMsg
		}
		metaJSON, err := json.Marshal(meta)
		if err != nil {
			return nil, validate, fmt.Errorf("encode meta of model %q: %w", dr.id, err)
		}
		preds = append(preds, store.Prediction{
			ID:                 store.PredictionID(cfg.ID, dr.id, d.slot),
			ModelID:            dr.id,
			PredictionConfigID: cfg.ID,
			ScopeKey:           scope.ScopeKey,
			Scope:              scope.Scope,
			Status:             dr.status,
			ExecTimeMs:         dr.execMs,
			InferenceInput:     storedInput,
			InferenceOutput:    dr.output,
			Meta:               metaJSON,
			PerformedAt:        now,
			ResolvableAt:       resolvable,
		})
	}
	return preds, validate, nil
}

// normaliseOutput returns an object output as-is (compacted) and wraps
// anything else (number, string, list, null, undecodable bytes) as
// {"result": v}.
func normaliseOutput(out json.RawMessage) json.RawMessage {
	if jsonx.CheckObject(out) == nil {
		return jsonx.Compact(out)
	}
	var v json.RawMessage = json.RawMessage(`null`)
	if len(bytes.TrimSpace(out)) > 0 && json.Valid(out) {
		v = jsonx.Compact(out)
	}
	b, err := json.Marshal(map[string]json.RawMessage{"result": v})
	if err != nil {
		return json.RawMessage(`{"result":null}`)
	}
	return b
}

// statusOf maps a host call status to a prediction status; an unknown
// status is stored as FAILED.
func statusOf(s host.Status) string {
	switch s {
	case host.StatusSuccess:
		return store.StatusSuccess
	case host.StatusTimeout:
		return store.StatusTimeout
	case host.StatusCrashed:
		return store.StatusCrashed
	case host.StatusBadImplementation:
		return store.StatusBadImplementation
	case host.StatusAbsent:
		return store.StatusAbsent
	default:
		return store.StatusFailed
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
