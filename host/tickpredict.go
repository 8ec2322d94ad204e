package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// TickPredict is Tick(input) followed by Predict(args, kwargs) on every
// model, concurrently across models: the same two calls, with the same
// deadlines (Options.CallTimeouts of sdk.MethodTick and sdk.MethodPredict,
// Predict's counted from Tick's answer), the same classification and stop
// rules and the same result maps as Tick then Predict, but one round trip
// per model instead of two when the model plugin serves sdk.MethodTickPredict
// or sdk.MethodTickPredictBatch (Describe's OptionalMethods: plugins built
// with this SDK). Other models (older plugins, Python and remote models, a
// request too large for one message) get the two calls. As with two
// fan-outs, a model whose Tick timed out or crashed is restarting and
// answers Predict ABSENT, and a model whose Tick failed is still asked to
// predict.
//
// A model that serves sdk.MethodTickPredictBatch keeps one such stream
// open across cycles (its live stream), so a cycle costs it one request
// and two answers on an open stream instead of a new stream: the stream
// is opened on the first cycle that can use it, on the generation serving
// then, by that cycle's Tick (the open counts against Tick's deadline and
// is abandoned when the cycle's ctx ends, as a per-cycle TickPredict
// stream's open is: an open still pending at Tick's deadline is Tick's
// TIMEOUT), lives as long as that generation, and runs the cycle's calls
// exactly as a ModelBatch does (Tick's input with the Predict call in one
// request, each deadline enforced by the host, each outcome applied
// through the same classification, restarts and stop rules). It is ended by an outcome that ends it
// (timeout, crash, protocol error, an answer over the size bound), by the
// cycle's ctx ending, and when its generation no longer serves (a
// restart, a reload, a cool-down, a stop, Close: the generation's streams
// are cancelled once it is stopped); the next cycle then opens a new one
// on the generation serving then. One cycle at a time uses a model's live
// stream: a TickPredict that overlaps another on the same model sends
// that model a TickPredict round trip of its own.
//
// A Predict result's Duration runs from Tick's answer to Predict's on the
// combined round trip (so it does not include sending the request).
//
// A process that exits after Tick's SUCCESS left it, before Predict's
// answer, is Predict's CRASHED (counted by the stop rules as on two
// calls), also when the host notices the exit before it reads the stream.
// After a failed Tick, an exit the host notices before it classifies
// Tick's outcome is Tick's CRASHED (Predict ABSENT), and the model gets
// two calls from then on, as below.
//
// One case cannot be told apart on one round trip: the plugin process dies
// (os.Exit, a fatal runtime error, a kill) right after Tick, before Tick's
// outcome has left it. The host then sees Tick crash (CRASHED, Predict
// ABSENT, as when Tick itself crashes) and sends that model Tick and
// Predict as two calls from then on (until a reload), so a crash that
// repeats is classified exactly. A panic in Predict is not such a case:
// the SDK reports it after Tick's outcome, as Predict's crash.
func (m *ModelSet) TickPredict(ctx context.Context, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage) (ticks, preds map[string]CallResult) {
	m.noteTick(input)
	members := m.snapshot()
	tr := make([]CallResult, len(members))
	pr := make([]CallResult, len(members))
	predBytes := predictBytes(args, kwargs)
	m.each(members, sdk.MethodTick, tr, func(i int, s *supervisor) {
		tr[i], pr[i] = m.tickPredictLive(ctx, s, input, args, kwargs, predBytes)
	})
	for i, mb := range members {
		if mb.s == nil {
			pr[i] = CallResult{Status: StatusAbsent, Err: &CallError{Plugin: mb.id, Callable: sdk.MethodPredict, Status: StatusAbsent, Err: fmt.Errorf("%w: never started", ErrStopped)}}
		}
	}
	return resultMap(members, tr), resultMap(members, pr)
}

// liveStream is a model's TickPredictBatch stream kept open across live
// TickPredict cycles (see TickPredict). mu is held by the cycle using the
// stream.
type liveStream struct {
	mu sync.Mutex
	bs *batchStream // nil before the first cycle on a stream
	// opened counts the streams opened (tests check the reuse).
	opened atomic.Int64
}

// tickPredictLive runs one model's cycle of TickPredict on its live
// stream (see TickPredict), or one by one (tickPredictOne) when the model
// cannot take it there: it serves no batch stream, the request is over
// the size bound of one message, another cycle is using the stream, or no
// generation serves now.
func (m *ModelSet) tickPredictLive(ctx context.Context, s *supervisor, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage, predBytes int) (tick, pred CallResult) {
	ls := &s.live
	if s.opts.noLiveStream || !tickPredictFits(len(input), predBytes) || !ls.mu.TryLock() {
		return m.tickPredictOne(ctx, s, input, args, kwargs, predBytes)
	}
	defer ls.mu.Unlock()
	if ls.bs == nil || !ls.bs.live() { // ended, or its generation no longer serves
		ls.bs = nil
		if in := s.serving(); in != nil {
			// The stream lives as long as its generation (in.streams);
			// it is opened by this cycle's Tick, within Tick's deadline
			// and ctx (batchStream.cycle), as a TickPredict stream is.
			ls.bs = s.newBatchStream(in.streams, in, "live")
		}
		if ls.bs == nil {
			return m.tickPredictOne(ctx, s, input, args, kwargs, predBytes)
		}
		ls.opened.Add(1)
	}
	tick, preds, _ := ls.bs.cycle(ctx, m, BatchCycle{Input: input, Calls: []PredictArgs{{Args: args, Kwargs: kwargs}}})
	return tick, preds[0]
}

// tickPredictFits says whether a request carrying Tick's input
// (inputBytes of JSON) and a Predict call (predBytes, see predictBytes)
// is within the size bound of one message.
func tickPredictFits(inputBytes, predBytes int) bool {
	return fitsOneRequest(inputBytes + predBytes)
}

// tickPredictOne runs Tick then Predict on one model (see TickPredict):
// two supervised calls sharing one stream when the generation serves it.
func (m *ModelSet) tickPredictOne(ctx context.Context, s *supervisor, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage, predBytes int) (tick, pred CallResult) {
	tickTO, predTO := s.opts.tickPredictTimeouts()
	var (
		call   *wire.TickPredictCall
		callIn *instance // the generation the stream runs on
		end    context.CancelFunc
	)
	defer func() {
		if end != nil {
			end()
		}
	}()
	streamed := false // Tick went on a TickPredict stream
	tick = s.call(ctx, sdk.MethodTick, false, len(input), func(cctx context.Context, in *instance) error {
		mc, ok := in.model.(*wire.ModelClient)
		if !ok || s.twoCalls.Load() || !slices.Contains(in.mdesc.OptionalMethods, sdk.MethodTickPredict) ||
			!tickPredictFits(len(input), predBytes) {
			return in.model.Tick(cctx, input)
		}
		streamed = true
		// The stream outlives this call (Predict reads its second
		// message); Tick's deadline ends it through stop.
		sctx, cancel := context.WithTimeout(ctx, tickTO+predTO)
		stop := context.AfterFunc(cctx, cancel)
		c, err := mc.OpenTickPredict(sctx, input, args, kwargs, tickTO, predTO)
		if err == nil {
			err = c.Tick()
			if h := s.beforeStreamClassified; h != nil {
				h(in, sdk.MethodTick)
			}
		}
		if !stop() { // Tick's deadline passed (or ctx ended): the stream is gone
			cancel()
			return deadlineErr(cctx, err)
		}
		if errors.Is(err, wire.ErrNoTickPredict) {
			cancel()
			streamed = false
			s.twoCalls.Store(true)
			s.log.Warn("model lists TickPredict but does not serve it: calling Tick and Predict from now on", "error", err)
			return in.model.Tick(cctx, input)
		}
		call, callIn, end = c, in, cancel
		return err
	})
	if streamed {
		s.combinedTickOutcome(tick.Status)
	}
	// Predict's request went out with Tick's: unless Tick's outcome
	// retired the generation (CRASHED, TIMEOUT: the model is restarting,
	// Predict is ABSENT as on two calls), Predict's outcome is the
	// stream's, even when the supervisor has seen the process exit by
	// now (callOn).
	var on *instance
	if call != nil && tick.Status != StatusCrashed && tick.Status != StatusTimeout {
		on = callIn
		if s.afterStreamTick != nil {
			s.afterStreamTick(callIn)
		}
	}
	var output json.RawMessage
	pred = s.callOn(ctx, sdk.MethodPredict, on, false, predBytes, func(cctx context.Context, in *instance) error {
		var out json.RawMessage
		var err error
		if on != nil {
			stop := context.AfterFunc(cctx, end)
			out, err = call.Predict()
			if h := s.beforeStreamClassified; h != nil {
				h(on, sdk.MethodPredict)
			}
			if !stop() {
				err = deadlineErr(cctx, err)
			}
		} else {
			out, err = in.model.Predict(cctx, args, kwargs)
		}
		output, err = m.checkOutput(out, err)
		return err
	})
	if pred.Status == StatusSuccess {
		pred.Output = output
	}
	return tick, pred
}

// combinedTickOutcome applies the rule for Tick's outcome st on a request
// that also carried a Predict call (a TickPredict stream, a live or batch
// stream's cycle): a CRASHED Tick may be that Predict's crash (the process
// died before Tick's outcome left it, or after a failed Tick's outcome
// left it but before the host classified it), which one round trip cannot
// tell apart, so s sends Tick and Predict as two calls from now on (until
// a reload: no stream either), and a crash that repeats is classified
// exactly.
func (s *supervisor) combinedTickOutcome(st Status) {
	if st == StatusCrashed && !s.twoCalls.Swap(true) {
		s.log.Warn("model process died on a request carrying Tick and Predict, counted as Tick's crash: calling Tick and Predict on their own from now on, so a crash that repeats is classified exactly")
	}
}

// tickPredictTimeouts are the deadlines of Tick and of the Predict sent
// with it in one request (TickPredict live, a batch stream's first call of
// a cycle): Tick's counts from the send, Predict's from Tick's answer, so
// the request as a whole has tick+pred.
func (o Options) tickPredictTimeouts() (tick, pred time.Duration) {
	return o.timeoutFor(sdk.MethodTick), o.timeoutFor(sdk.MethodPredict)
}

// deadlineErr is err of a call whose stream was ended because cctx ended:
// the status a call made with cctx itself would have returned (so a
// deadline stays DeadlineExceeded, not Canceled). A nil err (the answer
// arrived as the deadline passed) stays nil.
func deadlineErr(cctx context.Context, err error) error {
	if err == nil || cctx.Err() == nil {
		return err
	}
	return status.FromContextError(cctx.Err()).Err()
}
