package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Models is the model set the worker talks to (the host's plugin set, or a
// remote model-runner adapter). Every call result is keyed by model id.
type Models interface {
	// Tick sends the inference input (a JSON object) to every model.
	Tick(ctx context.Context, input json.RawMessage) map[string]host.CallResult
	// Predict calls every model with positional args and keyword kwargs (a
	// JSON object).
	Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) map[string]host.CallResult
	// States returns the supervisor's view of every known model.
	States() []host.ModelState
}

// Store is the part of store.Store the predict worker uses.
type Store interface {
	ListSchedules(ctx context.Context, activeOnly bool) ([]store.ScheduleRow, error)
	ListModels(ctx context.Context) ([]store.Model, error)
	LatestPerformedAt(ctx context.Context, configID string) (time.Time, error)
	SavePredictCycle(ctx context.Context, models []store.Model, predictions []store.Prediction) (int, error)
}

// FreshnessGate reports whether the feed of an asset is fresh at now; a
// non-nil error says why not (for example "newest record 5m old").
type FreshnessGate interface {
	Fresh(asset string, now time.Time) error
}

// Defaults of Config.
const (
	// DefaultAbsentGrace is how long a down model keeps getting ABSENT rows.
	DefaultAbsentGrace = time.Hour
	// DefaultRetryInterval is the wait after a failed or skipped cycle.
	DefaultRetryInterval = 5 * time.Second
	// DefaultScopeKey is used when neither the scope builder nor the
	// schedule row gives a scope key (reference-system.md 2.3.3).
	DefaultScopeKey = "default-scope"
)

// Config configures a Worker. Challenge, Models, Store and Clock are
// required.
type Config struct {
	Challenge sdk.Challenge
	Models    Models
	Store     Store
	Clock     clock.Clock
	// Logger defaults to hclog.NewNullLogger().
	Logger hclog.Logger
	// Freshness, when set, gates every cycle on the feed of each asset.
	Freshness FreshnessGate
	// Assets are checked by the freshness gate in addition to the due rows'
	// scope_template "asset" values (e.g. FEED_ASSETS).
	Assets []string
	// Data is passed to ProvideRawInput; nil lets the challenge plugin use
	// the host data service it was given at launch.
	Data sdk.HostData
	// AbsentGrace: a model down for longer than this gets no more ABSENT
	// rows. 0 means DefaultAbsentGrace; negative means never emit ABSENT
	// rows for a down model.
	AbsentGrace time.Duration
	// RetryInterval is the wait after a failed or skipped cycle (capped at
	// the next slot). 0 means DefaultRetryInterval.
	RetryInterval time.Duration
	// Directory holds static model info (config/models.json: name, player,
	// deployment) keyed by model id. Empty fields never overwrite stored ones.
	Directory map[string]store.Model
}

// Timing is the wall-clock duration of each stage of one cycle (real time,
// also under a simulated clock). Total runs from ProvideRawInput to the end
// of the store transaction (feed → persisted).
type Timing struct {
	RawInput       time.Duration
	InferenceInput time.Duration
	Tick           time.Duration
	Predict        time.Duration // scope + call builders and Predict fan-out, all due rows
	Validate       time.Duration
	Persist        time.Duration
	Total          time.Duration
}

// Result describes one cycle.
type Result struct {
	// Now is the cycle's time (UTC).
	Now time.Time
	// Due lists the ids of the schedule rows predicted in this cycle, with
	// their slot start times in Slots.
	Due   []string
	Slots map[string]time.Time
	// SkipReason is set when due rows were found but the cycle did not
	// predict (stale feed, no known model).
	SkipReason string
	// Predictions is the number of prediction rows built; Inserted how many
	// were new in the store (a retried cycle inserts 0).
	Predictions int
	Inserted    int
	// ByStatus counts built predictions per status.
	ByStatus map[string]int
	// ModelsWritten is the number of model rows upserted (new or changed).
	ModelsWritten int
	// NextDue is the earliest next slot start over the active rows (zero
	// when there is none).
	NextDue time.Time
	Timing  Timing
}

// CycleError is a challenge callable failure that aborted a cycle. Status
// is the host's classification (FAILED, CRASHED, TIMEOUT,
// BAD_IMPLEMENTATION); ScheduleID is set for per-row callables.
type CycleError struct {
	Callable   string
	ScheduleID string
	Status     host.Status
	Err        error
}

// Error formats "predict cycle aborted: <callable> [schedule <id>]: <STATUS>: <cause>".
func (e *CycleError) Error() string {
	where := e.Callable
	if e.ScheduleID != "" {
		where += " (schedule " + e.ScheduleID + ")"
	}
	return fmt.Sprintf("predict cycle aborted: %s: %s: %v", where, e.Status, e.Err)
}

// Unwrap returns the cause.
func (e *CycleError) Unwrap() error { return e.Err }

func callableErr(callable, scheduleID string, err error) error {
	return &CycleError{Callable: callable, ScheduleID: scheduleID, Status: host.StatusOf(err), Err: err}
}

func shapeErr(callable, scheduleID string, format string, args ...any) error {
	return &CycleError{Callable: callable, ScheduleID: scheduleID, Status: host.StatusBadImplementation, Err: fmt.Errorf(format, args...)}
}

// Worker is the predict worker. Create it with New; it is safe to call
// RunOnce from one goroutine at a time.
type Worker struct {
	cfg Config
	log hclog.Logger

	mu        sync.Mutex
	downSince map[string]time.Time

	// Run-local caches (see dueRows and modelRows), guarded by cacheMu.
	cacheMu sync.Mutex
	// parsed holds the last parsed ScheduleConfig of each schedule row,
	// reused while the stored row is unchanged.
	parsed map[string]parsedRow
	// performed is the newest performed_at of each schedule's predictions:
	// read from the store the first time the schedule is checked, then
	// advanced by this worker's own saves.
	performed map[string]time.Time
	// models mirrors the stored model rows, read once and then kept up to
	// date with this worker's own upserts; reread when an unknown model
	// predicts.
	models map[string]store.Model
}

// parsedRow is a schedule row and its parsed config.
type parsedRow struct {
	row store.ScheduleRow
	cfg sdk.ScheduleConfig
}

// sameRow reports whether two stored schedule rows are identical.
func sameRow(a, b store.ScheduleRow) bool {
	return a.ID == b.ID && a.ScopeKey == b.ScopeKey && a.Active == b.Active && a.Order == b.Order &&
		bytes.Equal(a.ScopeTemplate, b.ScopeTemplate) && bytes.Equal(a.Schedule, b.Schedule) && bytes.Equal(a.Meta, b.Meta)
}

// scheduleConfig returns the parsed config of r, parsing it only when the
// row changed since the last call.
func (w *Worker) scheduleConfig(r store.ScheduleRow) (sdk.ScheduleConfig, error) {
	w.cacheMu.Lock()
	p, ok := w.parsed[r.ID]
	w.cacheMu.Unlock()
	if ok && sameRow(p.row, r) {
		cfg := p.cfg // callables get their own raw bytes, never the cached ones
		cfg.ScopeTemplate = bytes.Clone(cfg.ScopeTemplate)
		cfg.Meta = bytes.Clone(cfg.Meta)
		return cfg, nil
	}
	cfg, err := ScheduleConfig(r)
	if err != nil {
		return cfg, err
	}
	row := r
	row.ScopeTemplate = bytes.Clone(r.ScopeTemplate)
	row.Schedule = bytes.Clone(r.Schedule)
	row.Meta = bytes.Clone(r.Meta)
	cached := cfg
	cached.ScopeTemplate = bytes.Clone(cfg.ScopeTemplate)
	cached.Meta = bytes.Clone(cfg.Meta)
	w.cacheMu.Lock()
	w.parsed[r.ID] = parsedRow{row: row, cfg: cached}
	w.cacheMu.Unlock()
	return cfg, nil
}

// latestPerformed returns the newest performed_at of configID's
// predictions: from the worker's memory once known, else from the store
// (then remembered). It wraps store.ErrNotFound when there is none.
func (w *Worker) latestPerformed(ctx context.Context, configID string) (time.Time, error) {
	w.cacheMu.Lock()
	last, ok := w.performed[configID]
	w.cacheMu.Unlock()
	if ok {
		return last, nil
	}
	last, err := w.cfg.Store.LatestPerformedAt(ctx, configID)
	if err != nil {
		return last, err
	}
	w.notePerformed(configID, last)
	return last, nil
}

// notePerformed advances the remembered newest performed_at of configID.
func (w *Worker) notePerformed(configID string, at time.Time) {
	w.cacheMu.Lock()
	defer w.cacheMu.Unlock()
	if old, ok := w.performed[configID]; !ok || at.After(old) {
		w.performed[configID] = at
	}
}

// New checks cfg and returns a Worker. It returns an error naming the first
// missing required field.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Challenge == nil:
		return nil, errors.New("predict worker: Config.Challenge is required")
	case cfg.Models == nil:
		return nil, errors.New("predict worker: Config.Models is required")
	case cfg.Store == nil:
		return nil, errors.New("predict worker: Config.Store is required")
	case cfg.Clock == nil:
		return nil, errors.New("predict worker: Config.Clock is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.AbsentGrace == 0 {
		cfg.AbsentGrace = DefaultAbsentGrace
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	return &Worker{cfg: cfg, log: cfg.Logger.Named("predict"), downSince: map[string]time.Time{},
		parsed: map[string]parsedRow{}, performed: map[string]time.Time{}}, nil
}

// Run runs cycles until ctx is done, sleeping on the clock until the next
// due slot (or RetryInterval after a failed or skipped cycle). A failed
// cycle is logged and the next one runs. It returns nil when ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	for {
		res, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.Error("predict cycle failed; retrying", "error", err, "retry_in", w.cfg.RetryInterval)
		}
		if err := w.cfg.Clock.Sleep(ctx, w.nextWait(res, err)); err != nil {
			return nil
		}
	}
}

func (w *Worker) nextWait(res Result, err error) time.Duration {
	now := w.cfg.Clock.Now()
	retry := err != nil || res.SkipReason != "" || res.NextDue.IsZero()
	if !retry {
		return res.NextDue.Sub(now)
	}
	wait := w.cfg.RetryInterval
	if !res.NextDue.IsZero() && res.NextDue.Sub(now) < wait {
		wait = res.NextDue.Sub(now)
	}
	return wait
}

// dueRow is a schedule row due in this cycle.
type dueRow struct {
	cfg  sdk.ScheduleConfig
	slot time.Time
}

// RunOnce runs one cycle at clock.Now() (see the package doc). It returns
// a *CycleError when a challenge callable fails, a store error when reading
// schedules or saving fails (nothing is written then), and ctx.Err() when
// cancelled. A skipped cycle (stale feed, no models) is not an error:
// Result.SkipReason says why.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	now := w.cfg.Clock.Now().UTC()
	res := Result{Now: now, Slots: map[string]time.Time{}, ByStatus: map[string]int{}}
	states := w.cfg.Models.States()
	w.trackDown(states, now)

	due, next, err := w.dueRows(ctx, now)
	res.NextDue = next
	if err != nil {
		return res, err
	}
	if len(due) == 0 {
		return res, nil
	}
	for _, d := range due {
		res.Due = append(res.Due, d.cfg.ID)
		res.Slots[d.cfg.ID] = d.slot
	}
	if reason := w.checkFresh(due, now); reason != "" {
		res.SkipReason = reason
		w.log.Warn("predict cycle skipped: feed not fresh, not predicting on stale data", "now", now, "reason", reason, "due", res.Due)
		return res, nil
	}
	if len(states) == 0 {
		res.SkipReason = "no known models"
		w.log.Warn("predict cycle skipped: no known models", "now", now, "due", res.Due)
		return res, nil
	}

	start := time.Now()
	t := start
	raw, err := w.cfg.Challenge.ProvideRawInput(ctx, now, w.cfg.Data)
	if err != nil {
		return res, w.abort(ctx, callableErr(sdk.CallableProvideRawInput, "", err))
	}
	raw, err = objectOrEmpty(raw)
	if err != nil {
		return res, w.abort(ctx, shapeErr(sdk.CallableProvideRawInput, "", "raw input: %w", err))
	}
	res.Timing.RawInput = time.Since(t)

	t = time.Now()
	input, err := w.cfg.Challenge.BuildInferenceInput(ctx, raw)
	if err != nil {
		return res, w.abort(ctx, callableErr(sdk.CallableBuildInferenceInput, "", err))
	}
	inputObj, err := decodeObject(input)
	if err != nil {
		return res, w.abort(ctx, shapeErr(sdk.CallableBuildInferenceInput, "", "inference input: %w", err))
	}
	input = compactJSON(input)
	res.Timing.InferenceInput = time.Since(t)

	t = time.Now()
	for id, r := range w.cfg.Models.Tick(ctx, input) {
		if r.Status != host.StatusSuccess {
			w.log.Warn("tick not delivered", "model_id", id, "status", r.Status, "error", errString(r.Err))
		}
	}
	res.Timing.Tick = time.Since(t)

	var preds []store.Prediction
	seen := map[string]bool{}
	predicted := make([]string, 0, len(due)) // rows with at least one prediction
	for _, d := range due {
		rowPreds, tm, err := w.predictRow(ctx, d, now, input, inputObj, states)
		res.Timing.Predict += tm.Predict
		res.Timing.Validate += tm.Validate
		if err != nil {
			return res, w.abort(ctx, err)
		}
		for _, p := range rowPreds {
			seen[p.ModelID] = true
			res.ByStatus[p.Status]++
		}
		if len(rowPreds) > 0 {
			predicted = append(predicted, d.cfg.ID)
		}
		preds = append(preds, rowPreds...)
	}
	res.Predictions = len(preds)
	if len(preds) == 0 {
		res.SkipReason = "every known model has been down for longer than the ABSENT grace period"
		w.log.Warn("predict cycle produced no prediction", "now", now, "reason", res.SkipReason)
		return res, nil
	}

	t = time.Now()
	models, err := w.modelRows(ctx, seen, states, now)
	if err != nil {
		return res, err
	}
	inserted, err := w.cfg.Store.SavePredictCycle(ctx, models, preds)
	if err != nil {
		return res, fmt.Errorf("predict cycle at %s: save %d predictions and %d models: %w", now.Format(time.RFC3339), len(preds), len(models), err)
	}
	res.Timing.Persist = time.Since(t)
	res.Timing.Total = time.Since(start)
	for _, id := range predicted {
		w.notePerformed(id, now) // the store now holds predictions of this slot
	}
	w.noteModels(models)
	res.Inserted = inserted
	res.ModelsWritten = len(models)
	w.log.Debug("predict cycle stored", "now", now, "due", res.Due, "predictions", len(preds), "inserted", inserted,
		"by_status", res.ByStatus, "total", res.Timing.Total)
	return res, nil
}

func (w *Worker) abort(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *CycleError
	if errors.As(err, &ce) {
		w.log.Error("predict cycle aborted", "callable", ce.Callable, "schedule_id", ce.ScheduleID, "status", ce.Status, "error", ce.Err)
	}
	return err
}

// dueRows loads the active schedules and returns the due ones with their
// slots, plus the earliest next slot over all valid active rows.
func (w *Worker) dueRows(ctx context.Context, now time.Time) ([]dueRow, time.Time, error) {
	rows, err := w.cfg.Store.ListSchedules(ctx, true)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("predict cycle: list active schedules: %w", err)
	}
	var due []dueRow
	var next time.Time
	for _, r := range rows {
		cfg, err := w.scheduleConfig(r)
		if err != nil {
			w.log.Error("schedule row skipped: invalid", "schedule_id", r.ID, "error", err)
			continue
		}
		if !cfg.Active {
			continue
		}
		slot := schedule.SlotAt(cfg, now)
		if n := schedule.NextSlot(cfg, now); next.IsZero() || n.Before(next) {
			next = n
		}
		last, err := w.latestPerformed(ctx, cfg.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, next, fmt.Errorf("predict cycle: latest performed_at of schedule %q: %w", cfg.ID, err)
		case !last.Before(slot):
			continue // this slot already has its predictions
		default:
			lastSlot := schedule.SlotAt(cfg, last)
			if missed := int(slot.Sub(lastSlot)/schedule.Every(cfg)) - 1; missed > 0 {
				w.log.Warn("schedule slots missed while the node was down (not back-filled)", "schedule_id", cfg.ID,
					"missed", missed, "first_missed", lastSlot.Add(schedule.Every(cfg)), "last_missed", slot.Add(-schedule.Every(cfg)))
			}
		}
		due = append(due, dueRow{cfg: cfg, slot: slot})
	}
	return due, next, nil
}

// checkFresh asks the gate about every asset the due rows need and returns
// the reasons of the stale ones ("" when all are fresh or no gate is set).
func (w *Worker) checkFresh(due []dueRow, now time.Time) string {
	if w.cfg.Freshness == nil {
		return ""
	}
	assets := map[string]bool{}
	for _, a := range w.cfg.Assets {
		if a != "" {
			assets[a] = true
		}
	}
	for _, d := range due {
		var tpl struct {
			Asset any `json:"asset"`
		}
		if json.Unmarshal(d.cfg.ScopeTemplate, &tpl) == nil {
			if s, ok := tpl.Asset.(string); ok && s != "" {
				assets[s] = true
			}
		}
	}
	names := make([]string, 0, len(assets))
	for a := range assets {
		names = append(names, a)
	}
	sort.Strings(names)
	var reasons []string
	for _, a := range names {
		if err := w.cfg.Freshness.Fresh(a, now); err != nil {
			reasons = append(reasons, fmt.Sprintf("asset %s: %v", a, err))
		}
	}
	if len(reasons) == 0 {
		return ""
	}
	b, _ := json.Marshal(reasons)
	return string(b)
}

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
	if !down {
		return false
	}
	if w.cfg.AbsentGrace < 0 {
		return true
	}
	return now.Sub(since) > w.cfg.AbsentGrace
}

type rowTiming struct{ Predict, Validate time.Duration }

// predictRow builds the scope and call of one due row, calls every model and
// returns one prediction per known model (minus models past the grace).
func (w *Worker) predictRow(ctx context.Context, d dueRow, now time.Time, input json.RawMessage, inputObj map[string]json.RawMessage, states []host.ModelState) ([]store.Prediction, rowTiming, error) {
	var tm rowTiming
	t := time.Now()
	cfg := d.cfg
	scope, err := w.cfg.Challenge.BuildPredictionScope(ctx, cfg, input)
	if err != nil {
		return nil, tm, callableErr(sdk.CallableBuildPredictionScope, cfg.ID, err)
	}
	scope, err = normaliseScope(scope, cfg)
	if err != nil {
		return nil, tm, shapeErr(sdk.CallableBuildPredictionScope, cfg.ID, "%w", err)
	}
	call, err := w.cfg.Challenge.BuildPredictCall(ctx, cfg, input, scope)
	if err != nil {
		return nil, tm, callableErr(sdk.CallableBuildPredictCall, cfg.ID, err)
	}
	call, err = normaliseCall(call)
	if err != nil {
		return nil, tm, shapeErr(sdk.CallableBuildPredictCall, cfg.ID, "%w", err)
	}
	results := w.cfg.Models.Predict(ctx, call.Args, call.Kwargs)
	tm.Predict = time.Since(t)
	if ctx.Err() != nil {
		return nil, tm, ctx.Err()
	}

	// Inference input stored with every prediction: the input plus _scope.
	withScope := make(map[string]json.RawMessage, len(inputObj)+1)
	for k, v := range inputObj {
		withScope[k] = v
	}
	envJSON, err := json.Marshal(scope)
	if err != nil {
		return nil, tm, fmt.Errorf("encode scope envelope of schedule %q: %w", cfg.ID, err)
	}
	withScope["_scope"] = envJSON
	storedInput, err := json.Marshal(withScope)
	if err != nil {
		return nil, tm, fmt.Errorf("encode inference input of schedule %q: %w", cfg.ID, err)
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
			dr.errMsg = errString(r.Err)
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
		t = time.Now()
		verdicts, err := w.cfg.Challenge.ValidateInferenceOutput(ctx, items)
		tm.Validate = time.Since(t)
		if err != nil {
			return nil, tm, callableErr(sdk.CallableValidateInferenceOutput, cfg.ID, err)
		}
		if len(verdicts) != len(items) {
			return nil, tm, shapeErr(sdk.CallableValidateInferenceOutput, cfg.ID, "expected %d validation results (one per output), found %d", len(items), len(verdicts))
		}
		for i := range drafts {
			dr := &drafts[i]
			if dr.itemIdx < 0 {
				continue
			}
			v := verdicts[dr.itemIdx]
			msg := v.Error
			if msg == "" && len(v.Output) > 0 && !isNull(v.Output) {
				if err := checkObject(v.Output); err != nil {
					msg = fmt.Sprintf("validator rewrote the output to a non-object: %v", err)
				} else {
					dr.output = compactJSON(v.Output)
				}
			}
			if msg != "" {
				w.log.Error("INFERENCE_OUTPUT_VALIDATION_ERROR", "model_id", dr.id, "scope_key", scope.ScopeKey, "schedule_id", cfg.ID,
					"error", msg, "raw_output", string(dr.output))
				wrapped, err := json.Marshal(map[string]any{"_validation_error": msg, "raw_output": dr.output})
				if err != nil {
					return nil, tm, fmt.Errorf("encode validation failure of model %q: %w", dr.id, err)
				}
				dr.status = store.StatusFailed
				dr.errMsg = "output validation failed"
				dr.output = wrapped
			}
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
			return nil, tm, fmt.Errorf("encode meta of model %q: %w", dr.id, err)
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
	return preds, tm, nil
}

// modelRows returns the model rows to upsert: models that predicted in this
// cycle and are new or whose name, deployment or player fields changed.
// Empty values never overwrite stored ones and a missing name becomes the
// model id (never the text "None", reference defect 14.2 #21).
func (w *Worker) modelRows(ctx context.Context, seen map[string]bool, states []host.ModelState, now time.Time) ([]store.Model, error) {
	byID, err := w.knownModels(ctx, seen)
	if err != nil {
		return nil, err
	}
	described := map[string]string{}
	for _, st := range states {
		described[st.ID] = st.Name
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
		m.Name = firstNonEmpty(m.Name, described[id], id)
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

// ScheduleConfig converts a stored schedule row into the callable view,
// validating it with the strict schedule parser. The error names the row.
func ScheduleConfig(r store.ScheduleRow) (sdk.ScheduleConfig, error) {
	obj := map[string]any{
		"id":        r.ID,
		"scope_key": r.ScopeKey,
		"active":    r.Active,
		"order":     r.Order,
	}
	if len(r.ScopeTemplate) > 0 {
		obj["scope_template"] = r.ScopeTemplate
	}
	if len(r.Schedule) > 0 {
		obj["schedule"] = r.Schedule
	}
	if len(r.Meta) > 0 {
		obj["meta"] = r.Meta
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("schedule row %q: encode: %w", r.ID, err)
	}
	cfg, err := schedule.ParseRow(b)
	if err != nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("schedule row %q: %w", r.ID, err)
	}
	return cfg, nil
}

// normaliseScope applies reference-system.md 2.3.3: scope_key falls back to
// the row's scope_key, then DefaultScopeKey; scope defaults to {} and must
// be an object.
func normaliseScope(s sdk.ScopeEnvelope, cfg sdk.ScheduleConfig) (sdk.ScopeEnvelope, error) {
	s.ScopeKey = firstNonEmpty(s.ScopeKey, cfg.ScopeKey, DefaultScopeKey)
	if len(s.Scope) == 0 || isNull(s.Scope) {
		s.Scope = json.RawMessage(`{}`)
		return s, nil
	}
	if err := checkObject(s.Scope); err != nil {
		return s, fmt.Errorf("scope: %w", err)
	}
	s.Scope = compactJSON(s.Scope)
	return s, nil
}

// normaliseCall applies reference-system.md 2.3.4 without its defects:
// nil args become [], each arg must be valid JSON, nil kwargs become {} and
// kwargs must be an object. Both are sent to the models.
func normaliseCall(c sdk.PredictCall) (sdk.PredictCall, error) {
	if c.Args == nil {
		c.Args = []json.RawMessage{}
	}
	for i, a := range c.Args {
		if !json.Valid(a) {
			return c, fmt.Errorf("args[%d]: expected a JSON value, found %q", i, abbreviate(a))
		}
	}
	if len(c.Kwargs) == 0 || isNull(c.Kwargs) {
		c.Kwargs = json.RawMessage(`{}`)
		return c, nil
	}
	if err := checkObject(c.Kwargs); err != nil {
		return c, fmt.Errorf("kwargs: %w", err)
	}
	return c, nil
}

// normaliseOutput returns an object output as-is (compacted) and wraps
// anything else (number, string, list, null, undecodable bytes) as
// {"result": v}.
func normaliseOutput(out json.RawMessage) json.RawMessage {
	if checkObject(out) == nil {
		return compactJSON(out)
	}
	var v json.RawMessage = json.RawMessage(`null`)
	if len(bytes.TrimSpace(out)) > 0 && json.Valid(out) {
		v = compactJSON(out)
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

func objectOrEmpty(b json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 || isNull(b) {
		return json.RawMessage(`{}`), nil
	}
	if err := checkObject(b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkObject returns nil when b is a JSON object and decodeObject's error
// otherwise, without decoding a valid object.
func checkObject(b json.RawMessage) error {
	if sdk.IsJSONObject(b) {
		return nil
	}
	_, err := decodeObject(b)
	return err
}

// decodeObject decodes b as a JSON object; the error says what was found.
func decodeObject(b json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fmt.Errorf("expected a JSON object, found %s", abbreviate(b))
	}
	return m, nil
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func compactJSON(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func abbreviate(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return "nothing"
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
