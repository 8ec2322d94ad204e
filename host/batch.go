package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
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

// maxBatchAnswerBytes bounds the answers one model's batch stream may hold
// in host memory: cycles × calls × (Options.MaxOutputBytes + framing). A
// batch that could hold more is not sent to that model (it gets the
// cycles one by one).
const maxBatchAnswerBytes = 32 << 20

// ModelBatch delivers the Tick and Predict calls of several cycles whose
// requests are all known in advance (a replay's block of simulated time:
// the inputs of later cycles do not depend on the answers) to every model
// that serves sdk.MethodTickPredictBatch, in one request per model; the
// model answers the cycles in order on a stream while the host consumes
// them one cycle at a time with Next. Every other model (an older plugin,
// Python and remote models, a batch over the size bounds) gets each
// cycle's calls when Next asks for them, as TickPredict and Predict do.
//
// Next returns exactly what TickPredict (and Predict for a cycle's further
// calls) would return at that moment: each answer goes through the same
// classification, restarts and stop rules, in cycle order, when Next
// consumes it, so a model cooled down or stopped by cycle k's outcome (or
// by the caller's ConfirmOutput after it) answers ABSENT from cycle k+1 as
// it would live. The host enforces each call's deadline (Options.
// CallTimeouts of sdk.MethodTick and sdk.MethodPredict) on the message it
// waits for, counted from the previous message's arrival, so a model
// cannot use the batch to escape its per-call timeout: a late message is
// that call's TIMEOUT. A Result's Duration is the time between the
// previous message and this one (the model's time for the call).
//
// When a model's stream ends early (a crash, a timeout, an answer over the
// size limit, a protocol error), that call gets the outcome as it would
// live and the model's later calls in the batch go one by one, as
// TickPredict and Predict (a crashed or timed-out model is restarting then,
// so it answers ABSENT until it is back, with fresh state). A model whose
// answer was refused for its size keeps its process and has already run
// the later cycles' Tick; it receives them again. Use one ModelBatch from
// one goroutine; Close ends its streams.
type ModelBatch struct {
	m       *ModelSet
	cycles  []BatchCycle
	next    int
	streams map[string]*batchStream // by model id; written only by StartBatch
	// streamed counts the models whose last Next answers came from their
	// stream.
	streamed atomic.Int32
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// batchStream is one model's stream of a ModelBatch.
type batchStream struct {
	s       *supervisor
	in      *instance // the generation the stream runs on
	answers chan batchAnswer
	dead    bool // the stream ended (or the model left): later calls go one by one
}

// batchAnswer is one message of a batch stream, or the stream's end
// (ended) where that message was expected.
type batchAnswer struct {
	wire.BatchAnswer
	dur   time.Duration
	ended error
}

// StartBatch sends cycles to every model that can take them in one
// request (see ModelBatch) and returns the batch; Next then returns the
// cycles' results in order. ctx bounds the whole batch. Call Close when
// done, also after the last Next.
func (m *ModelSet) StartBatch(ctx context.Context, cycles []BatchCycle) *ModelBatch {
	bctx, cancel := context.WithCancel(ctx)
	b := &ModelBatch{m: m, cycles: cycles, streams: map[string]*batchStream{}, cancel: cancel}
	msgs, reqBytes := 0, 0
	for _, c := range cycles {
		msgs += 1 + len(c.Calls)
		reqBytes += len(c.Input) + 16
		for _, p := range c.Calls {
			reqBytes += predictBytes(p.Args, p.Kwargs) + 16
		}
	}
	for _, mb := range m.snapshot() {
		if mb.s == nil {
			continue
		}
		if bs := b.open(bctx, mb.s, msgs, reqBytes); bs != nil {
			b.streams[mb.id] = bs
		}
	}
	return b
}

// open starts s's stream, or returns nil when s is to get the cycles one
// by one.
func (b *ModelBatch) open(ctx context.Context, s *supervisor, msgs, reqBytes int) *batchStream {
	if len(b.cycles) == 0 || s.twoCalls.Load() || s.noBatch.Load() || reqBytes > maxRequestPayload() ||
		msgs*(s.opts.MaxOutputBytes+outputFramingBytes) > maxBatchAnswerBytes {
		return nil
	}
	for _, c := range b.cycles {
		if len(c.Calls) == 0 {
			return nil
		}
	}
	s.mu.Lock()
	in := s.cur
	ok := s.admitsLocked() == nil && in != nil && !in.exited()
	s.mu.Unlock()
	if !ok {
		return nil
	}
	mc, isClient := in.model.(*wire.ModelClient)
	if !isClient || !slices.Contains(in.mdesc.OptionalMethods, sdk.MethodTickPredictBatch) {
		return nil
	}
	tickTO, predTO := s.opts.timeoutFor(sdk.MethodTick), s.opts.timeoutFor(sdk.MethodPredict)
	// The stream's own bound: every call's deadline in turn.
	sctx, cancel := context.WithTimeout(ctx, time.Duration(len(b.cycles))*tickTO+time.Duration(msgs-len(b.cycles))*predTO)
	call, err := mc.OpenTickPredictBatch(sctx, b.cycles, tickTO, predTO)
	if err != nil {
		cancel()
		s.log.Warn("batch stream not opened: the cycles go one by one", "error", err)
		return nil
	}
	bs := &batchStream{s: s, in: in, answers: make(chan batchAnswer, msgs)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		b.read(call, bs, cancel, tickTO, predTO)
	}()
	return bs
}

// read receives the answers of bs in order, each within its call's
// deadline counted from the previous answer, until the last one or the
// stream's end (then pushed as ended where an answer was expected).
func (b *ModelBatch) read(call *wire.TickPredictBatchCall, bs *batchStream, cancel context.CancelFunc, tickTO, predTO time.Duration) {
	defer close(bs.answers)
	last := time.Now()
	for _, c := range b.cycles {
		for i := 0; i <= len(c.Calls); i++ {
			d, name := predTO, sdk.MethodPredict
			if i == 0 {
				d, name = tickTO, sdk.MethodTick
			}
			t := time.AfterFunc(time.Until(last.Add(d)), cancel)
			a, err := call.Next()
			now := time.Now()
			if !t.Stop() {
				err = status.Errorf(codes.DeadlineExceeded, "%s: no answer within %s on the batch stream", name, d)
			}
			switch {
			case err == io.EOF:
				err = fmt.Errorf("%w: %s: the stream ended where %s's answer was expected", wire.ErrBadOutput, sdk.MethodTickPredictBatch, name)
			case err == nil && a.Tick != (i == 0):
				err = fmt.Errorf("%w: %s: expected %s's answer, found another", wire.ErrBadOutput, sdk.MethodTickPredictBatch, name)
			}
			if err != nil {
				bs.answers <- batchAnswer{ended: err, dur: now.Sub(last)}
				cancel()
				return
			}
			bs.answers <- batchAnswer{BatchAnswer: a, dur: now.Sub(last)}
			last = now
		}
	}
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

// Close ends every stream of the batch and waits for their readers.
// Idempotent.
func (b *ModelBatch) Close() {
	b.cancel()
	b.wg.Wait()
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

// cycle consumes one cycle's answers from the stream: Tick's, then each
// Predict's; once the stream has ended, the rest go one by one.
// fromStream says whether Tick's answer came from the stream.
func (bs *batchStream) cycle(ctx context.Context, m *ModelSet, c BatchCycle) (tick CallResult, preds []CallResult, fromStream bool) {
	a, tickAbsent := bs.recv(ctx, sdk.MethodTick)
	if errors.Is(a.ended, wire.ErrNoTickPredictBatch) {
		bs.dead = true
		bs.s.noBatch.Store(true)
		bs.s.log.Warn("model lists TickPredictBatch but does not serve it: sending each cycle on its own from now on", "error", a.ended)
		tick, preds = m.cycleOne(ctx, bs.s, c)
		return tick, preds, false
	}
	tick = bs.apply(ctx, m, sdk.MethodTick, a, tickAbsent)
	preds = make([]CallResult, len(c.Calls))
	for j, p := range c.Calls {
		if bs.dead {
			preds[j] = m.predictOne(ctx, bs.s, p)
			continue
		}
		a, absent := bs.recv(ctx, sdk.MethodPredict)
		preds[j] = bs.apply(ctx, m, sdk.MethodPredict, a, absent)
	}
	return tick, preds, tickAbsent == nil
}

// recv returns the next answer, call name's. A model that takes no call
// now (stopped, cooling down: an earlier outcome took it out) gets no
// answer: absent is what supervisor.call would answer, and the model
// leaves the batch.
func (bs *batchStream) recv(ctx context.Context, name string) (a batchAnswer, absent *CallResult) {
	s := bs.s
	s.mu.Lock()
	err := s.admitsLocked()
	s.mu.Unlock()
	if err != nil {
		bs.dead = true
		return a, &CallResult{Status: StatusAbsent, Err: &CallError{Plugin: s.spec.ID, Callable: name, Status: StatusAbsent, Err: err}}
	}
	select {
	case got, ok := <-bs.answers:
		a = got
		if !ok {
			a.ended = fmt.Errorf("%w: %s: the stream ended where %s's answer was expected", wire.ErrBadOutput, sdk.MethodTickPredictBatch, name)
		}
	case <-ctx.Done():
		a.ended = ctx.Err()
	}
	return a, nil
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
		err, bs.dead = a.ended, true
	}
	var out json.RawMessage
	if name == sdk.MethodPredict {
		out, err = m.checkOutput(a.Output, err)
	}
	res := s.finish(ctx, ctx, name, bs.in, err, a.dur, true)
	if res.Status == StatusSuccess {
		res.Output = out
	}
	if a.ended != nil && res.Status == StatusCrashed && !s.twoCalls.Swap(true) {
		s.log.Warn("model process died during a batch (counted as the crash of the call whose answer was due): calling each method on its own from now on, so a crash that repeats is classified exactly", "call", name)
	}
	return res
}
