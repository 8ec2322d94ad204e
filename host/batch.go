package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// BatchCycle is one cycle of a ModelBatch: Tick's input (a JSON object),
// then the cycle's Predict calls in order (at least one).
type BatchCycle = wire.BatchCycle

// PredictArgs are one Predict call's args (JSON values) and kwargs (a JSON
// object).
type PredictArgs = wire.PredictArgs

// ModelBatch delivers the Tick and Predict calls of several cycles whose
// requests are all known in advance (a replay's block of simulated time:
// the inputs of later cycles do not depend on the answers) to every model
// that serves sdk.MethodTickPredictBatch on one stream per model, opened
// once for the batch, in lockstep: Next sends a model cycle k's Tick input
// together with its first Predict call (one request, as TickPredict does
// live), reads Tick's outcome and that Predict's answer, then sends each
// further Predict call and reads its answer, and cycle k+1's calls go out
// only when Next is called for it, after cycle k's answers have been
// consumed. A model therefore never holds a
// call the host has not reached (it cannot read a later cycle's input,
// which holds the ground truth of earlier ones, nor work on later calls
// ahead of their deadlines), and it holds the state it would hold live.
// Every other model (an older plugin, Python and remote models, a cycle
// whose request is over the size bound) gets each cycle's calls when Next
// asks for them, as TickPredict and Predict do. Models run in parallel.
//
// Next returns exactly what TickPredict (and Predict for a cycle's further
// calls) would return at that moment: each answer goes through the same
// classification, restarts and stop rules, in cycle order, so a model
// cooled down or stopped by cycle k's outcome (or by the caller's
// ConfirmOutput after it) answers ABSENT from cycle k+1 as it would live.
// The host enforces each call's deadline (Options.CallTimeouts of
// sdk.MethodTick and sdk.MethodPredict) as on a live call: Tick's from
// when it sends the request, the first Predict's from Tick's answer (as
// TickPredict), a further Predict's from when it sends that call; a late
// answer is that call's TIMEOUT (the stream ends and the model restarts).
// A Result's Duration runs from the same start to the call's answer. At most one answer per model is in host memory,
// bounded by the connection's message size limit as on a live call.
//
// When a model's stream ends early (a crash, a timeout, an answer over the
// size limit, a protocol error), that call gets the outcome as it would
// live and the model's later calls in the batch go one by one, as
// TickPredict and Predict (a crashed or timed-out model is restarting then,
// so it answers ABSENT until it is back, with fresh state). Use one
// ModelBatch from one goroutine; Close ends its streams.
//
// A batch's streams are its own, opened by StartBatch and ended by Close;
// live TickPredict runs its cycles on a stream of the same kind kept open
// across cycles (a model's live stream), through the same code
// (batchStream.cycle), so a live cycle and a batch's cycle apply the same
// rules.
type ModelBatch struct {
	m       *ModelSet
	cycles  []BatchCycle
	next    int
	streams map[string]*batchStream // by model id; written only by StartBatch
	// streamed counts the models whose last Next answers came from their
	// stream.
	streamed atomic.Int32
	cancel   context.CancelFunc
	closed   bool
}

// batchStream is one model's stream of a ModelBatch, or its live stream
// (liveStream). Only the goroutine running that model's cycle uses it (in
// Next or Close; for a live stream, the holder of liveStream.mu).
type batchStream struct {
	s    *supervisor
	in   *instance // the generation the stream runs on
	kind string    // "batch" or "live", for error texts
	mc   *wire.ModelClient
	sctx context.Context // the stream's context, ended by cancel
	// call is the open stream; nil until open (a live stream is opened
	// by its first cycle's Tick, within Tick's deadline).
	call   *wire.TickPredictBatchCall
	cancel context.CancelFunc // ends the stream
	tickTO time.Duration
	predTO time.Duration
	dead   bool // the stream ended (or the model left): later calls go one by one
}

// batchAnswer is one answer of a batch stream, or the stream's end (ended)
// where that answer was expected; dur is the time from sending the call.
type batchAnswer struct {
	wire.BatchAnswer
	dur   time.Duration
	ended error
}

// StartBatch opens a lockstep stream to every model that can take the
// cycles on one (see ModelBatch) and returns the batch; no call is sent
// until Next. ctx bounds the whole batch. Call Close when done, also after
// the last Next.
func (m *ModelSet) StartBatch(ctx context.Context, cycles []BatchCycle) *ModelBatch {
	bctx, cancel := context.WithCancel(ctx)
	b := &ModelBatch{m: m, cycles: cycles, streams: map[string]*batchStream{}, cancel: cancel}
	if !batchable(cycles) {
		return b
	}
	for _, mb := range m.snapshot() {
		if mb.s == nil {
			continue
		}
		if bs := b.open(bctx, mb.s); bs != nil {
			b.streams[mb.id] = bs
		}
	}
	return b
}

// batchable says whether cycles can go on batch streams: there is one,
// every cycle has a Predict call, and every request is within the size
// bound of one message (Tick's input goes with the first Predict call).
func batchable(cycles []BatchCycle) bool {
	if len(cycles) == 0 {
		return false
	}
	for _, c := range cycles {
		if len(c.Calls) == 0 || !tickPredictFits(len(c.Input), predictBytes(c.Calls[0].Args, c.Calls[0].Kwargs)) {
			return false
		}
		for _, p := range c.Calls {
			if !fitsOneRequest(predictBytes(p.Args, p.Kwargs)) {
				return false
			}
		}
	}
	return true
}

// open starts s's stream for the batch on the generation serving now, or
// returns nil when s is to get the cycles one by one.
func (b *ModelBatch) open(ctx context.Context, s *supervisor) *batchStream {
	in := s.serving()
	if in == nil {
		return nil
	}
	return s.openBatchStream(ctx, in)
}

// openBatchStream opens a TickPredictBatch stream on generation in, ended
// by ctx, or returns nil when s is to get its calls one by one: it cannot
// take one (see newBatchStream), or the stream did not open.
func (s *supervisor) openBatchStream(ctx context.Context, in *instance) *batchStream {
	bs := s.newBatchStream(ctx, in, "batch")
	if bs == nil {
		return nil
	}
	if err := bs.open(); err != nil {
		bs.cancel()
		s.log.Warn("batch stream not opened: the calls go one by one", "error", err)
		return nil
	}
	return bs
}

// newBatchStream returns a TickPredictBatch stream on generation in, ended
// by ctx, not yet opened (open), or nil when s is to get its calls one by
// one: it sends each method on its own (twoCalls), or does not serve the
// stream (noBatch, or in's Describe does not list
// sdk.MethodTickPredictBatch: an older plugin, a Python or remote model).
// kind ("batch", "live") names the stream in error texts.
func (s *supervisor) newBatchStream(ctx context.Context, in *instance, kind string) *batchStream {
	if s.twoCalls.Load() || s.noBatch.Load() {
		return nil
	}
	mc, isClient := in.model.(*wire.ModelClient)
	if !isClient || !slices.Contains(in.mdesc.OptionalMethods, sdk.MethodTickPredictBatch) {
		return nil
	}
	tickTO, predTO := s.opts.tickPredictTimeouts()
	sctx, cancel := context.WithCancel(ctx)
	return &batchStream{s: s, in: in, kind: kind, mc: mc, sctx: sctx, cancel: cancel, tickTO: tickTO, predTO: predTO}
}

// open opens the stream unless it is open. Opening may block until the
// stream's context ends (grpc-go's NewStream waits while the plugin allows
// no further stream), so a caller bounds it by cancelling the stream (do
// runs it within Tick's deadline and the cycle's ctx).
func (bs *batchStream) open() error {
	if bs.call != nil {
		return nil
	}
	if h := bs.s.beforeStreamOpen; h != nil {
		if err := h(bs.sctx); err != nil {
			return err
		}
	}
	call, err := bs.mc.OpenTickPredictBatch(bs.sctx, bs.tickTO, bs.predTO)
	if err != nil {
		return fmt.Errorf("opening the %s stream (%s): %w", bs.kind, sdk.MethodTickPredictBatch, err)
	}
	bs.call = call
	return nil
}

// Next returns the results of the batch's next cycle: Tick's per model,
// and one map per Predict call of the cycle, as TickPredict (then Predict)
// would return them now (see ModelBatch). Calling it after the last cycle
// panics.
func (b *ModelBatch) Next(ctx context.Context) (ticks map[string]CallResult, preds []map[string]CallResult) {
	c := b.cycles[b.next]
	b.next++
	m := b.m
	m.noteTick(c.Input)
	members := m.snapshot()
	var streamed atomic.Int32
	tr := make([]CallResult, len(members))
	pr := make([][]CallResult, len(members))
	m.each(members, sdk.MethodTick, tr, func(i int, s *supervisor) {
		bs := b.streams[members[i].id]
		if bs == nil || bs.s != s || bs.dead {
			tr[i], pr[i] = m.cycleOne(ctx, s, c)
			return
		}
		var fromStream bool
		tr[i], pr[i], fromStream = bs.cycle(ctx, m, c)
		if fromStream {
			streamed.Add(1)
		}
	})
	b.streamed.Store(streamed.Load())
	preds = make([]map[string]CallResult, len(c.Calls))
	for j := range c.Calls {
		res := make([]CallResult, len(members))
		for i, mb := range members {
			if mb.s == nil {
				res[i] = CallResult{Status: StatusAbsent, Err: &CallError{Plugin: mb.id, Callable: sdk.MethodPredict, Status: StatusAbsent, Err: fmt.Errorf("%w: never started", ErrStopped)}}
				continue
			}
			res[i] = pr[i][j]
		}
		preds[j] = resultMap(members, res)
	}
	return resultMap(members, tr), preds
}

// Streamed returns how many models answered the last Next's Tick from
// their batch stream (the others got the cycle's calls one by one).
func (b *ModelBatch) Streamed() int { return int(b.streamed.Load()) }

// Close ends every stream of the batch: a live one is told that no call
// follows, then cancelled. Idempotent.
func (b *ModelBatch) Close() {
	if b.closed {
		return
	}
	b.closed = true
	for _, bs := range b.streams {
		if !bs.dead && bs.call != nil {
			_ = bs.call.CloseSend()
		}
		bs.cancel()
	}
	b.cancel()
}

// cycleOne runs one cycle's calls on s without a batch: TickPredict for
// the first call, Predict for the others.
func (m *ModelSet) cycleOne(ctx context.Context, s *supervisor, c BatchCycle) (tick CallResult, preds []CallResult) {
	preds = make([]CallResult, len(c.Calls))
	for j, p := range c.Calls {
		if j == 0 {
			tick, preds[0] = m.tickPredictOne(ctx, s, c.Input, p.Args, p.Kwargs, predictBytes(p.Args, p.Kwargs))
			continue
		}
		preds[j] = m.predictOne(ctx, s, p)
	}
	return tick, preds
}

// predictOne is one model's Predict call (see Predict).
func (m *ModelSet) predictOne(ctx context.Context, s *supervisor, p PredictArgs) CallResult {
	var output json.RawMessage
	r := s.call(ctx, sdk.MethodPredict, false, predictBytes(p.Args, p.Kwargs), func(cctx context.Context, in *instance) error {
		var err error
		output, err = m.checkOutput(in.model.Predict(cctx, p.Args, p.Kwargs))
		return err
	})
	if r.Status == StatusSuccess {
		r.Output = output
	}
	return r
}

// cycle runs one cycle's calls on the stream in lockstep: Tick's together
// with the first Predict's in one request (as TickPredict live: Tick's
// answer is due within its deadline from the send, that Predict's within
// its own from Tick's answer), then each further Predict's, each sent
// after the previous answer was read; once the stream has ended, the rest
// go one by one. fromStream says whether Tick's answer came from the
// stream.
func (bs *batchStream) cycle(ctx context.Context, m *ModelSet, c BatchCycle) (tick CallResult, preds []CallResult, fromStream bool) {
	if !bs.live() { // the cycle's calls are admitted anew, as live
		tick, preds = m.cycleOne(ctx, bs.s, c)
		return tick, preds, false
	}
	a, tickAbsent := bs.do(ctx, sdk.MethodTick, bs.tickTO, func() (wire.BatchAnswer, error) {
		if err := bs.open(); err != nil { // a live stream's first cycle: within Tick's deadline
			return wire.BatchAnswer{}, err
		}
		return bs.call.TickPredict(c.Input, c.Calls[0])
	})
	if errors.Is(a.ended, wire.ErrNoTickPredictBatch) {
		bs.s.noBatch.Store(true)
		bs.s.log.Warn("model lists TickPredictBatch but does not serve it: sending each cycle on its own from now on", "error", a.ended)
		tick, preds = m.cycleOne(ctx, bs.s, c)
		return tick, preds, false
	}
	if h := bs.s.beforeStreamClassified; h != nil && tickAbsent == nil {
		h(bs.in, sdk.MethodTick)
	}
	tick = bs.apply(ctx, m, sdk.MethodTick, a, tickAbsent)
	switch {
	case tick.Status == StatusCrashed || tick.Status == StatusTimeout:
		// Tick's outcome retired the generation (the model is
		// restarting): the Predict sent with it is not read off the
		// stream but asked anew, ABSENT as on two calls (TickPredict).
		bs.end()
	case !bs.dead && bs.s.afterStreamTick != nil:
		bs.s.afterStreamTick(bs.in)
	}
	preds = make([]CallResult, len(c.Calls))
	for j, p := range c.Calls {
		if bs.dead || (j > 0 && !bs.live()) {
			preds[j] = m.predictOne(ctx, bs.s, p)
			continue
		}
		send := func() (wire.BatchAnswer, error) { return bs.call.Predict(p) }
		if j == 0 { // sent with Tick
			send = bs.call.ThenPredict
		}
		a, absent := bs.do(ctx, sdk.MethodPredict, bs.predTO, send)
		if h := bs.s.beforeStreamClassified; h != nil && absent == nil {
			h(bs.in, sdk.MethodPredict)
		}
		preds[j] = bs.apply(ctx, m, sdk.MethodPredict, a, absent)
	}
	return tick, preds, tickAbsent == nil
}

// do makes call name on the stream (send sends it, unless it went with
// Tick, and reads its answer) within its deadline d, counted from send's
// start, and within ctx. A model
// that takes no call now (stopped, cooling down: an earlier outcome took
// it out) is not called: absent is what supervisor.call would answer, and
// the model leaves the batch. An answer that does not come in time ends
// the stream as the call's DeadlineExceeded.
func (bs *batchStream) do(ctx context.Context, name string, d time.Duration, send func() (wire.BatchAnswer, error)) (a batchAnswer, absent *CallResult) {
	if err := bs.s.admits(); err != nil {
		bs.end()
		r := bs.s.refused(name, false, err)
		return a, &r
	}
	start := time.Now()
	timer := time.AfterFunc(d, bs.cancel)
	stopCtx := context.AfterFunc(ctx, bs.cancel)
	got, err := send()
	a.dur = time.Since(start)
	timedOut := !timer.Stop()
	ctxEnded := !stopCtx() // ctx ended: the stream is (being) cancelled
	switch {
	case timedOut:
		err = status.Errorf(codes.DeadlineExceeded, "%s: no answer within %s on the %s stream", name, d, bs.kind)
	case err == nil:
		// An answer that arrived as ctx ended is the call's; the stream
		// is cancelled all the same, so no later call may go on it (a
		// live stream's next cycle opens a new one).
		a.BatchAnswer = got
		if ctxEnded {
			bs.end()
		}
		return a, nil
	case ctx.Err() != nil:
		err = ctx.Err()
	case err == io.EOF:
		err = fmt.Errorf("%w: %s: the stream ended where %s's answer was expected", wire.ErrBadOutput, sdk.MethodTickPredictBatch, name)
	}
	a.ended = err
	bs.end()
	return a, nil
}

// live reports whether a new call may go on the stream: its generation is
// still the one taking calls (see supervisor.serving). A call sent now
// (a cycle's Tick, a further Predict) is admitted like a live call: when
// the process exited or was retired since the last answer, or the model
// was taken out, the stream ends and the call goes one by one (ABSENT
// while the model restarts, not a crash charged to a call never sent).
// A Predict sent with Tick is bound to the stream (do checks only that
// the model still takes calls), unless Tick's outcome ended the stream
// (CRASHED, TIMEOUT: the model is restarting): then it is asked anew
// (ABSENT), as on two calls.
func (bs *batchStream) live() bool {
	if bs.dead {
		return false
	}
	if bs.s.serving() != bs.in {
		bs.end()
		return false
	}
	return true
}

// end marks the stream ended and cancels it.
func (bs *batchStream) end() {
	bs.dead = true
	bs.cancel()
}

// apply applies answer a of call name as the call would have been applied
// live (supervisor.finish) and returns its result.
func (bs *batchStream) apply(ctx context.Context, m *ModelSet, name string, a batchAnswer, absent *CallResult) CallResult {
	if absent != nil {
		return *absent
	}
	s := bs.s
	err := a.Err
	if a.ended != nil {
		err = a.ended
	}
	var out json.RawMessage
	if name == sdk.MethodPredict {
		out, err = m.checkOutput(a.Output, err)
	}
	res := s.finish(ctx, ctx, name, bs.in, err, a.dur)
	if res.Status == StatusSuccess {
		res.Output = out
	}
	// Tick went with the cycle's first Predict. Any other call is alone
	// on the stream, so its crash is its own.
	if name == sdk.MethodTick {
		s.combinedTickOutcome(res.Status)
	}
	return res
}
