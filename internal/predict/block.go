package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Batcher is implemented by a model set that can take the calls of
// several cycles known in advance on one stream per model
// (host.ModelSet.StartBatch): the same calls, deadlines and per-call
// results, in cycle order, as TickPredict then Predict cycle by cycle.
type Batcher interface {
	StartBatch(ctx context.Context, cycles []host.BatchCycle) *host.ModelBatch
}

// Block runs the cycles of a block of simulated time with the model calls
// of all of them on one batch stream per model (a replay: the inputs of
// later cycles do not depend on the models' answers). Prefetch may make
// their inference inputs in one challenge call; Plan prepares each cycle
// at its moment, as RunOnce starts it (due rows, freshness, raw and
// inference inputs, scopes and predict calls); Run then opens the batch
// (Batcher) and ends each cycle in order as RunOnce does: the cycle's
// calls go to the models in lockstep (a model gets cycle k+1's calls only
// after its answers to cycle k's were read: host.ModelBatch), each model's
// answers go through the supervisor's classification and stop rules, then
// validation and ConfirmOutput, before the next cycle's calls; the
// predictions of all the cycles are saved in one store transaction at the
// end. The stored predictions are those RunOnce at each moment stores.
//
// Differences with RunOnce are possible only after a failure: a failed
// save fails every cycle of the block, not one; a cycle whose planning
// fails at a later row's predict call builder calls no model (RunOnce has
// already sent Tick and the earlier rows' Predict when it fails there);
// and a cycle that fails when it ends (ValidateInferenceOutput fails, the
// save fails) or stores nothing (every model past the ABSENT grace) has
// already counted as performed for the planning of the block's later
// cycles, so a row whose period spans several cycles is not predicted
// again in the same slot within the block as RunOnce would retry it.
//
// Use a Block from the worker's one goroutine, with no RunOnce between
// Plan and Run.
type Block struct {
	// BeforeModelWrite, when set, is called by Run before a store
	// transaction that writes model rows (new or changed models): a replay
	// waits there for the leaderboard rebuild it runs alongside the block,
	// which reads the model rows as they were when it started.
	BeforeModelWrite func()

	w       *Worker
	steps   []*blockStep
	assumed map[string]time.Time          // performed_at of the planned cycles, by schedule id
	inputs  map[time.Time]json.RawMessage // inference inputs made ahead (Prefetch), by cycle time
}

// InputsBatcher is implemented by a challenge that can make the inference
// inputs of several cycles in one call (host.Challenge): for each time,
// what ProvideRawInput then BuildInferenceInput answer at that time; nil
// when it cannot, and possibly answers for only a prefix of times.
type InputsBatcher interface {
	BuildInferenceInputs(ctx context.Context, times []time.Time) []wire.InputAnswer
}

// Prefetch makes the inference inputs of the cycles at times (UTC) in one
// challenge call when the challenge can (InputsBatcher, and the worker
// passes no Data of its own), for Plan to use at those times: the cycles
// it does not answer, or answers with an error, call ProvideRawInput and
// BuildInferenceInput at their time as RunOnce does, where a failure is
// classified and reported as usual. The feed must be stored up to the
// last time (the challenge reads each cycle's feed as stored at its time).
func (b *Block) Prefetch(ctx context.Context, times []time.Time) {
	b.AddInputs(b.FetchInputs(ctx, times))
}

// FetchInputs is Prefetch's challenge call: it returns the inference
// inputs made, by cycle time (UTC), for AddInputs. It touches no state of
// the block, so it may run while another goroutine runs the block's
// current cycles (a replay makes the next block's inputs meanwhile).
func (b *Block) FetchInputs(ctx context.Context, times []time.Time) map[time.Time]json.RawMessage {
	ib, ok := b.w.cfg.Challenge.(InputsBatcher)
	if !ok || b.w.cfg.Data != nil {
		return nil
	}
	inputs := map[time.Time]json.RawMessage{}
	for i, a := range ib.BuildInferenceInputs(ctx, times) {
		if a.Err == nil {
			inputs[times[i].UTC()] = a.Input
		}
	}
	return inputs
}

// AddInputs keeps inputs (FetchInputs) for Plan to use at their times.
func (b *Block) AddInputs(inputs map[time.Time]json.RawMessage) {
	for t, in := range inputs {
		b.inputs[t] = in
	}
}

// blockStep is one planned cycle.
type blockStep struct {
	res   Result
	in    cycleInput
	rows  []rowCallPlan
	batch int   // index in the batch, -1 when the cycle calls no model
	err   error // the cycle failed when planned (Plan's error)
}

// rowCallPlan is one due row's scope and predict call.
type rowCallPlan struct {
	d     dueRow
	scope sdk.ScopeEnvelope
	call  host.PredictArgs
}

// NewBlock returns an empty block, or nil when the worker's model set has
// no Batcher (then run each cycle with RunOnce).
func (w *Worker) NewBlock() *Block {
	if _, ok := w.cfg.Models.(Batcher); !ok {
		return nil
	}
	return &Block{w: w, assumed: map[string]time.Time{}, inputs: map[time.Time]json.RawMessage{}}
}

// Len is the number of planned cycles.
func (b *Block) Len() int { return len(b.steps) }

// Plan prepares the cycle at clock.Now() and adds it to the block. When
// the cycle cannot be planned (a challenge callable failed, the store
// failed, ctx ended) it returns that error, as RunOnce would (the failure
// is logged once, each callable having been called once), and the cycle
// stays in the block as a failed one: Run ends it with that error in its
// turn, calling no model. The worker's previous-cycle time is now's either
// way, as after RunOnce.
func (b *Block) Plan(ctx context.Context) error {
	w := b.w
	now := w.cfg.Clock.Now().UTC()
	st := &blockStep{res: Result{Now: now, Slots: map[string]time.Time{}, ByStatus: map[string]int{}}, batch: -1}
	b.steps = append(b.steps, st)
	pre := b.inputs[now]
	delete(b.inputs, now)
	in, err := w.prepare(ctx, &st.res, w.cfg.Models.States(), b.assumed, pre)
	if err != nil {
		st.err = err
		return err
	}
	st.in = in
	st.res.InputAhead = pre != nil && !in.done
	if !in.done {
		t := time.Now()
		for _, d := range in.due {
			scope, call, err := w.rowCall(ctx, d, in.input)
			if err != nil {
				st.res.Timing.Predict += time.Since(t)
				st.rows, st.err = nil, w.abort(ctx, err)
				return st.err
			}
			st.rows = append(st.rows, rowCallPlan{d: d, scope: scope, call: host.PredictArgs{Args: call.Args, Kwargs: call.Kwargs}})
		}
		st.res.Timing.Predict += time.Since(t)
		for _, d := range in.due {
			b.assumed[d.cfg.ID] = now
		}
	}
	return nil
}

// Run ends the planned cycles in order (see Block) and empties the block:
// their predictions (and new or changed model rows) are saved in one store
// transaction at the end, and done is then called for each cycle with
// what RunOnce would have returned (a failed save fails every cycle that
// had predictions; the save's time is shared out in Timing.Persist, and
// Inserted is each cycle's count when all or none were new, else the new
// rows shared out in cycle order).
func (b *Block) Run(ctx context.Context, done func(Result, error)) {
	w := b.w
	steps := b.steps
	b.steps, b.assumed, b.inputs = nil, map[string]time.Time{}, map[time.Time]json.RawMessage{}
	var cycles []host.BatchCycle
	for _, st := range steps {
		if st.in.done || st.err != nil {
			continue
		}
		st.batch = len(cycles)
		c := host.BatchCycle{Input: st.in.input}
		for _, r := range st.rows {
			c.Calls = append(c.Calls, r.call)
		}
		cycles = append(cycles, c)
	}
	var batch *host.ModelBatch
	if len(cycles) > 0 {
		batch = w.cfg.Models.(Batcher).StartBatch(ctx, cycles)
		defer batch.Close()
	}
	out := make([]endedStep, len(steps))
	var models []store.Model
	var preds []store.Prediction
	saving := 0
	for i, st := range steps {
		out[i] = w.endStep(ctx, st, batch)
		if out[i].err == nil && len(out[i].preds) > 0 {
			models = append(models, out[i].models...)
			preds = append(preds, out[i].preds...)
			saving++
		}
	}
	if saving > 0 {
		if len(models) > 0 && b.BeforeModelWrite != nil {
			b.BeforeModelWrite()
		}
		t := time.Now()
		inserted, err := w.cfg.Store.SavePredictCycle(ctx, models, preds)
		d := time.Since(t)
		if err != nil {
			w.forgetModels() // the rows noted by endStep were not stored
			err = fmt.Errorf("predict cycles from %s to %s: save %d predictions and %d models: %w",
				steps[0].res.Now.Format(time.RFC3339), steps[len(steps)-1].res.Now.Format(time.RFC3339), len(preds), len(models), err)
		}
		for i := range out {
			e := &out[i]
			if e.err != nil || len(e.preds) == 0 {
				continue
			}
			if err != nil {
				e.err = err
				continue
			}
			e.res.Timing.Persist = d / time.Duration(saving)
			e.res.Timing.Total = time.Since(steps[i].in.start)
			switch {
			case inserted == len(preds):
				e.res.Inserted = len(e.preds)
			default:
				e.res.Inserted = min(inserted, len(e.preds))
				inserted -= e.res.Inserted
			}
			for _, id := range e.predicted {
				w.notePerformed(id, e.res.Now) // the store now holds predictions of this slot
			}
			w.log.Debug("predict cycle stored", "now", e.res.Now, "due", e.res.Due, "predictions", len(e.preds), "inserted", e.res.Inserted,
				"by_status", e.res.ByStatus, "total", e.res.Timing.Total)
		}
	}
	for _, e := range out {
		if w.cfg.Observe != nil {
			p := e.preds
			if e.err != nil || e.res.Timing.Total == 0 {
				p = nil
			}
			w.cfg.Observe(e.res, p, e.err)
		}
		done(e.res, e.err)
	}
}

// endedStep is a Block's cycle ended up to its store transaction.
type endedStep struct {
	res       Result
	preds     []store.Prediction
	models    []store.Model // model rows to upsert (noted as stored already)
	predicted []string      // rows with at least one prediction
	err       error
}

// endStep ends one planned cycle as RunOnce does after the predict calls
// were built, except for the store transaction (Run's): the model rows it
// would upsert are noted as stored, so the next cycles see them.
func (w *Worker) endStep(ctx context.Context, st *blockStep, batch *host.ModelBatch) endedStep {
	e := endedStep{res: st.res}
	res := &e.res
	states := w.cfg.Models.States()
	w.trackDown(states, res.Now)
	if st.batch < 0 {
		e.err = st.err
		return e
	}
	if e.err = ctx.Err(); e.err != nil {
		return e
	}
	t := time.Now()
	ticks, results := batch.Next(ctx)
	res.Timing.Predict += time.Since(t)
	res.Streamed = batch.Streamed()
	w.logTicks(ticks)
	if e.err = ctx.Err(); e.err != nil {
		return e
	}
	seen := map[string]bool{}
	for i, r := range st.rows {
		rowPreds, vt, err := w.rowPredictions(ctx, r.d, res.Now, r.scope, results[i], st.in.inputObj, states)
		res.Timing.Validate += vt
		if err != nil {
			e.err = w.abort(ctx, err)
			return e
		}
		for _, p := range rowPreds {
			seen[p.ModelID] = true
			res.ByStatus[p.Status]++
		}
		if len(rowPreds) > 0 {
			e.predicted = append(e.predicted, r.d.cfg.ID)
		}
		e.preds = append(e.preds, rowPreds...)
	}
	res.Predictions = len(e.preds)
	if len(e.preds) == 0 {
		res.SkipReason = noPredictionReason
		w.log.Warn("predict cycle produced no prediction", "now", res.Now, "reason", res.SkipReason)
		return e
	}
	if e.models, e.err = w.modelRows(ctx, seen, states, res.Now); e.err != nil {
		return e
	}
	w.noteModels(e.models)
	return e
}
