package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/loop"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Timing is the wall-clock duration of each stage of one cycle (real time,
// also under a simulated clock). Total runs from ProvideRawInput to the end
// of the store transaction (feed → persisted).
//
// With a TickPredicter model set, Tick is 0: the Tick fan-out is part of
// the first due row's combined Tick + Predict round trip, counted in
// Predict.
type Timing struct {
	RawInput       time.Duration
	InferenceInput time.Duration
	Tick           time.Duration
	Predict        time.Duration // scope + call builders and Predict fan-out (with Tick when combined), all due rows
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
	// Streamed is the number of models whose Tick answer came from a batch
	// stream (a Block's cycles; see host.ModelBatch), 0 for RunOnce.
	Streamed int
	// InputAhead says the inference input was made ahead, with the other
	// cycles of a Block (Block.Prefetch).
	InputAhead bool
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

// Run runs cycles until ctx is done, sleeping on the clock until the next
// due slot (or RetryInterval after a failed or skipped cycle). A failed
// cycle is logged and the next one runs. It returns nil when ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	_ = loop.Run(ctx, w.cfg.Clock, w.RunOnce, w.nextWait) // ends only when ctx is done
	return nil
}

// nextWait logs a failed cycle and returns the wait before the next one:
// until the next due slot, or RetryInterval (capped at the next slot) after
// a failed or skipped cycle or when no slot is known.
func (w *Worker) nextWait(res Result, err error) time.Duration {
	if err != nil {
		w.log.Error("predict cycle failed; retrying", "error", err, "retry_in", w.cfg.RetryInterval)
	}
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

// RunOnce runs one cycle at clock.Now() (see the package doc). It returns
// a *CycleError when a challenge callable fails, a store error when reading
// schedules or saving fails (nothing is written then), and ctx.Err() when
// cancelled. A skipped cycle (stale feed, no models) is not an error:
// Result.SkipReason says why.
func (w *Worker) RunOnce(ctx context.Context) (res Result, err error) {
	now := w.cfg.Clock.Now().UTC()
	res = Result{Now: now, Slots: map[string]time.Time{}, ByStatus: map[string]int{}}
	var preds []store.Prediction
	if w.cfg.Observe != nil {
		defer func() {
			if err != nil || res.Timing.Total == 0 {
				preds = nil
			}
			w.cfg.Observe(res, preds, err)
		}()
	}
	states := w.cfg.Models.States()
	w.trackDown(states, now)
	var in cycleInput
	in, err = w.prepare(ctx, &res, states, nil, nil)
	if err != nil || in.done {
		return res, err
	}
	due, input, inputObj := in.due, in.input, in.inputObj
	var t time.Time

	// The first due row: Tick and Predict in one round trip per model when
	// the model set can (its scope and call do not depend on Tick), else
	// the Tick fan-out, then each row's Predict fan-out.
	tp, combined := w.cfg.Models.(TickPredicter)
	var first []store.Prediction
	if combined {
		var tm rowTiming
		first, tm, err = w.tickPredictRow(ctx, tp, due[0], now, input, inputObj, states)
		res.Timing.Predict += tm.Predict
		res.Timing.Validate += tm.Validate
		if err != nil {
			return res, w.abort(ctx, err)
		}
	} else {
		t = time.Now()
		w.tick(ctx, input)
		res.Timing.Tick = time.Since(t)
	}

	seen := map[string]bool{}
	predicted := make([]string, 0, len(due)) // rows with at least one prediction
	for i, d := range due {
		rowPreds := first
		if !combined || i > 0 {
			var tm rowTiming
			rowPreds, tm, err = w.predictRow(ctx, d, now, input, inputObj, states)
			res.Timing.Predict += tm.Predict
			res.Timing.Validate += tm.Validate
			if err != nil {
				return res, w.abort(ctx, err)
			}
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
	err = w.persist(ctx, &res, in.start, preds, seen, predicted, states)
	return res, err
}

// cycleInput is what a cycle prepares before calling the models.
type cycleInput struct {
	done     bool      // nothing to call: res is complete (nothing due, skipped)
	start    time.Time // when ProvideRawInput was called (Timing.Total's start)
	due      []dueRow
	input    json.RawMessage            // the inference input, compacted
	inputObj map[string]json.RawMessage // its members, compacted
}

// prepare runs the start of the cycle at res.Now: the due rows (a schedule
// whose slot is in assumed counts as performed then: the planned cycles of
// a Block), the freshness gate, ProvideRawInput and BuildInferenceInput
// (or pre, the inference input a Block made ahead for now).
// done means res is complete (nothing due, or skipped). It records now as
// the worker's previous-cycle time.
func (w *Worker) prepare(ctx context.Context, res *Result, states []host.ModelState, assumed map[string]time.Time, pre json.RawMessage) (cycleInput, error) {
	now := res.Now
	w.mu.Lock()
	prevRun := w.lastRun
	w.lastRun = now
	w.mu.Unlock()
	due, next, err := w.dueRows(ctx, now, prevRun, assumed)
	res.NextDue = next
	if err != nil {
		return cycleInput{}, err
	}
	if len(due) == 0 {
		return cycleInput{done: true}, nil
	}
	for _, d := range due {
		res.Due = append(res.Due, d.cfg.ID)
		res.Slots[d.cfg.ID] = d.slot
	}
	if reason := w.checkFresh(due, now); reason != "" {
		res.SkipReason = reason
		w.log.Warn("predict cycle skipped: feed not fresh, not predicting on stale data", "now", now, "reason", reason, "due", res.Due)
		return cycleInput{done: true}, nil
	}
	if len(states) == 0 {
		res.SkipReason = "no known models"
		w.log.Warn("predict cycle skipped: no known models", "now", now, "due", res.Due)
		return cycleInput{done: true}, nil
	}

	start := time.Now()
	t := start
	input := pre
	if input == nil {
		raw, err := w.cfg.Challenge.ProvideRawInput(ctx, now, w.cfg.Data)
		if err != nil {
			return cycleInput{}, w.abort(ctx, callableErr(sdk.CallableProvideRawInput, "", err))
		}
		res.Timing.RawInput = time.Since(t)
		t = time.Now()
		if input, err = w.cfg.Challenge.BuildInferenceInput(ctx, raw); err != nil {
			return cycleInput{}, w.abort(ctx, callableErr(sdk.CallableBuildInferenceInput, "", err))
		}
	}
	input, inputObj, err := jsonx.CompactObject(input)
	if err != nil {
		return cycleInput{}, w.abort(ctx, shapeErr(sdk.CallableBuildInferenceInput, "", "inference input: %w", err))
	}
	res.Timing.InferenceInput = time.Since(t)
	return cycleInput{start: start, due: due, input: input, inputObj: inputObj}, nil
}

// noPredictionReason is the SkipReason of a cycle that built no prediction.
const noPredictionReason = "every known model has been down for longer than the ABSENT grace period"

// persist ends a cycle that built preds: the model rows of the models in
// seen, one store transaction, and the worker's memory of the performed
// slots (the rows in predicted) and stored models. With no prediction the
// cycle is skipped (res.SkipReason).
func (w *Worker) persist(ctx context.Context, res *Result, start time.Time, preds []store.Prediction, seen map[string]bool, predicted []string, states []host.ModelState) error {
	now := res.Now
	res.Predictions = len(preds)
	if len(preds) == 0 {
		res.SkipReason = noPredictionReason
		w.log.Warn("predict cycle produced no prediction", "now", now, "reason", res.SkipReason)
		return nil
	}
	t := time.Now()
	models, err := w.modelRows(ctx, seen, states, now)
	if err != nil {
		return err
	}
	inserted, err := w.cfg.Store.SavePredictCycle(ctx, models, preds)
	if err != nil {
		return fmt.Errorf("predict cycle at %s: save %d predictions and %d models: %w", now.Format(time.RFC3339), len(preds), len(models), err)
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
	return nil
}

// tick sends the Tick fan-out and logs the models it did not reach.
func (w *Worker) tick(ctx context.Context, input json.RawMessage) {
	w.logTicks(w.cfg.Models.Tick(ctx, input))
}

func (w *Worker) logTicks(results map[string]host.CallResult) {
	for id, r := range results {
		if r.Status != host.StatusSuccess {
			w.log.Warn("tick not delivered", "model_id", id, "status", r.Status, "error", errString(r.Err))
		}
	}
}

// tickPredictRow is predictRow for the first due row with Tick in the
// same round trip (TickPredicter). When the row's scope or call cannot be
// built, the Tick fan-out still runs before the cycle aborts, as it does
// with separate fan-outs.
func (w *Worker) tickPredictRow(ctx context.Context, tp TickPredicter, d dueRow, now time.Time, input json.RawMessage, inputObj map[string]json.RawMessage, states []host.ModelState) ([]store.Prediction, rowTiming, error) {
	var tm rowTiming
	t := time.Now()
	scope, call, err := w.rowCall(ctx, d, input)
	if err != nil {
		w.tick(ctx, input)
		return nil, tm, err
	}
	ticks, results := tp.TickPredict(ctx, input, call.Args, call.Kwargs)
	tm.Predict = time.Since(t)
	w.logTicks(ticks)
	if ctx.Err() != nil {
		return nil, tm, ctx.Err()
	}
	preds, vt, err := w.rowPredictions(ctx, d, now, scope, results, inputObj, states)
	tm.Validate = vt
	return preds, tm, err
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
