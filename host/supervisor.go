package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// restartRequest asks the supervisor loop to kill instance in and start a
// new generation, because a call on it ended with st (TIMEOUT or CRASHED).
type restartRequest struct {
	in  *instance
	st  Status
	err error
}

// supervisor owns one plugin: a loop goroutine launches generation after
// generation, restarting with capped exponential backoff after a crash or a
// timeout kill, until the stop rules (models only) or Close end it.
type supervisor struct {
	kind      string
	spec      PluginSpec
	opts      Options
	data      sdk.HostData
	log       hclog.Logger
	stopRules bool // model stop rules (MULTIPLE_FAILED, MULTIPLE_TIMEOUT, BAD_IMPLEMENTATION)
	retry     bool // retry a failed first start (models); a challenge fails fast

	cancel context.CancelFunc // ends the current loop; guarded by mu
	wg     sync.WaitGroup
	kick   chan restartRequest

	firstDone chan struct{}
	firstErr  *StartError

	mu          sync.Mutex
	cur         *instance
	ready       chan struct{}
	readyClosed bool
	gen         int
	restarts    int
	streak      int // consecutive restarts since the last success (backoff exponent)
	stopped     bool
	closed      bool
	reason      StopReason
	consecFail  int
	consecTO    int
	lastErr     string
	cooling     bool            // taken out by MULTIPLE_FAILED / MULTIPLE_TIMEOUT until nextRetry
	coolStreak  int             // cool-downs since the last valid answer (cool-down exponent)
	cooldowns   int             // cool-downs in all
	stateSince  time.Time       // when the current state began
	nextRetry   time.Time       // when a restarting or cooling-down plugin starts again
	lastTick    json.RawMessage // the last Tick input, replayed to every new generation
	cdesc       wire.ChallengeDescription
	mdesc       wire.ModelDescription
	sha256      string // expected checksum of the next launch (spec.SHA256 until a reload changes it)
	// twoCalls sends Tick and Predict as two calls from now on instead of
	// TickPredict (see ModelSet.TickPredict); cleared by a reload.
	twoCalls atomic.Bool
	// noBatch: the plugin listed TickPredictBatch but does not serve it
	// (ModelBatch sends it each cycle's calls instead); cleared by a reload.
	noBatch atomic.Bool
	// afterStreamTick, set by tests before any call, runs after Tick's
	// outcome arrived on a TickPredict or batch stream on in, before the
	// answer of the Predict sent with it is read (a test orders the
	// process's exit there).
	afterStreamTick func(in *instance)
	// beforeStreamClassified, set by tests before any call, runs after
	// the outcome of call name (Tick, Predict) was read off a TickPredict
	// or batch stream on in (or the read failed), before it is classified
	// (a test orders the process's exit there).
	beforeStreamClassified func(in *instance, name string)
	// beforeStreamOpen, set by tests before any call, runs before a live
	// or batch stream is opened, with the stream's context; an error is
	// the open's (a test holds the open there until the context ends, as
	// grpc-go's NewStream does while the plugin allows no new stream).
	beforeStreamOpen func(ctx context.Context) error
	// live is the model's stream kept open across live TickPredict cycles.
	live liveStream
}

func newSupervisor(kind string, spec PluginSpec, data sdk.HostData, opts Options) *supervisor {
	return startSupervisor(kind, spec, data, opts, nil)
}

// startSupervisor starts a supervisor whose first generation is warmed up
// with lastTick (a model joining a running set gets the history the
// others have).
func startSupervisor(kind string, spec PluginSpec, data sdk.HostData, opts Options, lastTick json.RawMessage) *supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	if kind == sdk.PluginModel {
		spec.stderrLog = newRingBuffer(stderrLogSize)
	}
	s := &supervisor{
		kind: kind, spec: spec, opts: opts, data: data, sha256: spec.SHA256,
		log:       opts.Logger.Named("host").With("plugin_kind", kind, "plugin_id", spec.ID),
		stopRules: kind == sdk.PluginModel,
		retry:     kind == sdk.PluginModel,
		cancel:    cancel,
		kick:      make(chan restartRequest, 1),
		firstDone: make(chan struct{}),
		ready:     make(chan struct{}),
		lastTick:  lastTick,
	}
	s.wg.Add(1)
	go s.loop(ctx)
	return s
}

// loop launches generation after generation until ctx ends.
func (s *supervisor) loop(ctx context.Context) {
	defer s.wg.Done()
	first := true
	finishFirst := func(se *StartError) {
		if first {
			first = false
			s.firstErr = se
			close(s.firstDone)
		}
	}
	defer finishFirst(nil)
	for ctx.Err() == nil {
		s.mu.Lock()
		s.gen++
		gen := s.gen
		spec := s.spec
		spec.SHA256 = s.sha256
		s.mu.Unlock()

		s.markGeneration(gen)
		in, se := launch(ctx, s.kind, spec, gen, s.data, s.opts)
		if se != nil {
			if ctx.Err() != nil {
				finishFirst(se)
				return
			}
			s.event(EventStartFailed, gen, se.Status, "", 0, se)
			isFirst := first
			finishFirst(se)
			if se.NodeSide() && (!isFirst || s.retry) {
				// The node's failure, not the model's: not charged, not
				// counted by the stop rules, retried with backoff.
				s.opts.Logger.Error("plugin launch failed on the node's side; retrying (not charged to the plugin)", "plugin_id", spec.ID, "generation", gen, "error", se)
				if !s.sleepBackoff(ctx, gen, se.Status, se) {
					return
				}
				continue
			}
			if se.Status == StatusBadImplementation || (isFirst && !s.retry) {
				s.stopFor(StopBadImplementation, se.Status, se)
				return
			}
			if s.record("", se.Status, true, se) {
				return // stop rules fired
			}
			if !s.sleepBackoff(ctx, gen, se.Status, se) {
				return
			}
			continue
		}
		s.mu.Lock()
		cooling := s.cooling
		s.mu.Unlock()
		if cooling {
			// A cool-down began while this generation was starting: it
			// waits out the cool-down like any other (no service meanwhile).
			in.stop(s.opts.KillTimeout, false)
			if !s.sleepBackoff(ctx, gen, "", nil) {
				return
			}
			continue
		}
		s.warmUp(ctx, in, gen)
		in.streams, in.endStreams = context.WithCancel(context.Background())
		s.setReady(in)
		s.event(EventStarted, gen, "", "", 0, nil)
		finishFirst(nil)

		var cause restartRequest
	wait:
		for {
			select {
			case <-ctx.Done():
				s.clearReady(in)
				s.mu.Lock()
				graceful := !s.stopped
				s.mu.Unlock()
				in.stop(s.opts.KillTimeout, graceful)
				in.endStreams()
				return
			case <-in.done:
				cause = restartRequest{in: in, st: StatusCrashed, err: in.exitCause()}
				s.event(EventExited, gen, StatusCrashed, "", 0, cause.err)
				break wait
			case req := <-s.kick:
				if req.in == in {
					cause = req
					break wait
				}
			}
		}
		s.clearReady(in)
		in.stop(s.opts.KillTimeout, false)
		in.endStreams()
		if ctx.Err() != nil {
			return
		}
		if !s.sleepBackoff(ctx, gen, cause.st, cause.err) {
			return
		}
	}
}

// sleepBackoff logs the restart and waits for the backoff delay; false
// means the supervisor is shutting down.
//
// A model taken out for a cool-down (MULTIPLE_FAILED, MULTIPLE_TIMEOUT)
// waits until the cool-down ends instead, and is then re-admitted: fresh
// counters, and the loop starts a fresh process.
func (s *supervisor) sleepBackoff(ctx context.Context, gen int, st Status, cause error) bool {
	s.mu.Lock()
	cooling := s.cooling
	var d time.Duration
	if cooling {
		d = time.Until(s.nextRetry)
	} else {
		s.restarts++
		s.streak++
		d = backoff(s.streak, s.opts.RestartBackoffMin, s.opts.RestartBackoffMax)
		s.stateSince, s.nextRetry = time.Now().UTC(), time.Now().UTC().Add(d)
	}
	s.mu.Unlock()
	if !cooling {
		s.event(EventRestart, gen, st, "", d, cause)
	}
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	if cooling {
		s.readmit(gen)
		return true
	}
	s.mu.Lock()
	cooling = s.cooling
	s.mu.Unlock()
	if cooling { // a cool-down began during the restart backoff: wait it out
		return s.sleepBackoff(ctx, gen, st, cause)
	}
	return true
}

// readmit ends a cool-down: fresh failure counters and restart streak; the
// loop then starts a fresh process (warmed up with the last Tick).
func (s *supervisor) readmit(gen int) {
	s.mu.Lock()
	if !s.cooling {
		s.mu.Unlock()
		return
	}
	reason := s.reason
	s.cooling, s.reason = false, ""
	s.consecFail, s.consecTO, s.streak = 0, 0, 0
	s.stateSince, s.nextRetry = time.Now().UTC(), time.Time{}
	s.restarts++
	if s.readyClosed && s.cur == nil { // waiters wait for the new generation
		s.ready = make(chan struct{})
		s.readyClosed = false
	}
	s.mu.Unlock()
	s.log.Info("model re-admitted after its cool-down: starting a fresh process", "generation", gen+1, "after", string(reason))
	s.emit(Event{Time: time.Now().UTC(), Kind: EventReadmitted, PluginID: s.spec.ID, Generation: gen, Reason: reason})
}

// warmUp sends a new model generation the last Tick input (its history),
// so a restarted or re-admitted model answers its first Predict with the
// same data the others have. A failed warm-up is logged; the model's next
// calls decide.
func (s *supervisor) warmUp(ctx context.Context, in *instance, gen int) {
	s.mu.Lock()
	input := s.lastTick
	s.mu.Unlock()
	if in.model == nil || input == nil {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, s.opts.timeoutFor(sdk.MethodTick))
	defer cancel()
	if err := in.model.Tick(tctx, input); err != nil {
		s.log.Warn("warm-up Tick of the new generation failed", "generation", gen, "error", err)
		return
	}
	s.log.Debug("new generation warmed up with the last Tick", "generation", gen, "bytes", len(input))
}

// setLastTick keeps input as the latest Tick input for warm-ups. input is
// shared, never modified (ModelSet.noteTick makes one copy for all).
func (s *supervisor) setLastTick(input json.RawMessage) {
	s.mu.Lock()
	s.lastTick = input
	s.mu.Unlock()
}

// confirmOutput applies the caller's verdict on the last SUCCESS Predict
// answer (Options.ConfirmOutputs): nil resets the failure counters and the
// cool-down streak; an error counts as a FAILED result.
func (s *supervisor) confirmOutput(invalid error) {
	if invalid == nil {
		s.mu.Lock()
		s.consecFail, s.consecTO, s.coolStreak = 0, 0, 0
		s.mu.Unlock()
		return
	}
	err := &CallError{Plugin: s.spec.ID, Callable: sdk.MethodPredict, Status: StatusFailed, Err: fmt.Errorf("%w: %w", ErrInvalidOutput, invalid)}
	s.record(sdk.MethodPredict, StatusFailed, true, err)
}

// backoff returns the delay before restart number n (n >= 1) of a streak:
// min*2^(n-1) capped at max, with jitter in [d/2, d].
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

func (s *supervisor) setReady(in *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = in
	s.stateSince, s.nextRetry = time.Now().UTC(), time.Time{}
	if in.chal != nil {
		s.cdesc = in.cdesc
	}
	if in.model != nil {
		s.mdesc = in.mdesc
	}
	if !s.readyClosed {
		close(s.ready)
		s.readyClosed = true
	}
}

func (s *supervisor) clearReady(in *instance) {
	in.retired.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != in {
		return
	}
	s.cur = nil
	if s.readyClosed && !s.stopped && !s.closed {
		s.ready = make(chan struct{})
		s.readyClosed = false
	}
}

// acquire returns the ready instance. With wait it blocks until a restart
// completes or ctx ends; without, it fails fast with ErrRestarting.
func (s *supervisor) acquire(ctx context.Context, wait bool) (*instance, error) {
	for {
		s.mu.Lock()
		in, err := s.servingLocked()
		if in != nil || err != nil {
			s.mu.Unlock()
			return in, err
		}
		ready := s.ready
		s.mu.Unlock()
		if !wait {
			return nil, ErrRestarting
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: not ready before the call deadline: %w", ErrRestarting, ctx.Err())
		}
	}
}

// admitsLocked returns why the plugin takes no call now (stopped, closed,
// cooling down), or nil. s.mu is held.
func (s *supervisor) admitsLocked() error {
	switch {
	case s.stopped:
		return fmt.Errorf("%w: %s: %s", ErrStopped, s.reason, s.lastErr)
	case s.closed:
		return fmt.Errorf("%w: closed", ErrStopped)
	case s.cooling:
		return fmt.Errorf("%w after %s until %s", ErrCoolingDown, s.reason, s.nextRetry.Format(time.RFC3339))
	}
	return nil
}

// requestRestart asks the loop to kill in and start a new generation. It
// never blocks; a request for an old generation is ignored by the loop.
func (s *supervisor) requestRestart(in *instance, st Status, err error) {
	s.clearReady(in) // no new call may pick the retiring generation
	select {
	case s.kick <- restartRequest{in: in, st: st, err: err}:
	default:
		// A request is pending; replace it if it is for an older generation.
		select {
		case old := <-s.kick:
			if old.in != in {
				old = restartRequest{in: in, st: st, err: err}
			}
			select {
			case s.kick <- old:
			default:
			}
		default:
		}
	}
}

// call runs one RPC on the current instance with its own deadline and
// classifies the outcome. wait says whether to wait for a restart in
// progress (challenge) or to answer ABSENT at once (models). reqBytes is
// the JSON payload size, checked against wire.MaxMessageBytes before sending.
func (s *supervisor) call(ctx context.Context, name string, wait bool, reqBytes int, fn func(context.Context, *instance) error) CallResult {
	return s.callOn(ctx, name, nil, wait, reqBytes, fn)
}

// callOn is call, bound to generation on when on is not nil: the call's
// request already went out on a stream open on on (Predict's, sent with
// Tick on a TickPredict stream), so the call is under way and is not
// admitted again. It is refused (ABSENT) only when the plugin takes no
// call at all now (stopped, disabled, closed, cooling down: see admits);
// whether on is still current or its process still alive is the stream's
// to tell: an exit before the answer is this call's CRASHED, with the
// exit's cause, and counts toward the stop rules as on any call.
// (Refusing it because the supervisor saw the exit first, as acquire
// would, made the crash an uncharged ABSENT.)
func (s *supervisor) callOn(ctx context.Context, name string, on *instance, wait bool, reqBytes int, fn func(context.Context, *instance) error) CallResult {
	if !fitsOneRequest(reqBytes) {
		err := fmt.Errorf("%w: %d bytes of JSON, limit %d", ErrRequestTooLarge, reqBytes, wire.MaxMessageBytes)
		return CallResult{Status: StatusFailed, Err: &CallError{Plugin: s.spec.ID, Callable: name, Status: StatusFailed, Err: err}}
	}
	callCtx, cancel := context.WithTimeout(ctx, s.opts.timeoutFor(name))
	defer cancel()
	var in *instance
	var err error
	if on != nil {
		in, err = on, s.admits()
	} else {
		in, err = s.acquire(callCtx, wait)
	}
	if err != nil {
		return s.refused(name, wait, err)
	}
	start := time.Now()
	err = fn(callCtx, in)
	return s.finish(ctx, callCtx, name, in, err, time.Since(start))
}

// serving returns the generation a call made now would get without
// waiting (acquire's), or nil.
func (s *supervisor) serving() *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, _ := s.servingLocked()
	return in
}

// servingLocked returns the generation that takes calls now: the current
// one while the plugin admits calls and its process has not exited; nil
// with why the plugin takes none (admitsLocked), or nil, nil between
// generations. s.mu is held.
func (s *supervisor) servingLocked() (*instance, error) {
	if err := s.admitsLocked(); err != nil {
		return nil, err
	}
	if in := s.cur; in != nil && !in.exited() {
		return in, nil
	}
	return nil, nil
}

// admits returns why the plugin takes no call now (stopped, closed,
// cooling down), or nil.
func (s *supervisor) admits() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitsLocked()
}

// refused is the result of call name that was not made because of err
// (admits, acquire): ABSENT, not charged to the plugin; CRASHED for a
// waiting call (a challenge's) that found no generation before its
// deadline.
func (s *supervisor) refused(name string, wait bool, err error) CallResult {
	st := StatusAbsent
	if wait && !errors.Is(err, ErrStopped) {
		st = StatusCrashed
	}
	return CallResult{Status: st, Err: &CallError{Plugin: s.spec.ID, Callable: name, Status: st, Err: err}}
}

// finish classifies the outcome err of call name on in, which took dur,
// and applies it: restart, stop rules. The outcome has just arrived (also
// on a stream, which is read in lockstep), so a process that has exited or
// a generation retired by now is this call's crash (unless the outcome is
// SUCCESS), as on any call. (For Tick's failed outcome on a request that
// also carried a Predict call, the exit may be that Predict's: see
// combinedTickOutcome.)
func (s *supervisor) finish(ctx, callCtx context.Context, name string, in *instance, err error, dur time.Duration) CallResult {
	st, charge := classifyCall(ctx, callCtx, err, in.done)
	if st == StatusFailed && charge && in.retired.Load() {
		// The generation was retired (killed for a restart) under the call.
		st = StatusCrashed
	}
	res := CallResult{Status: st, Duration: dur}
	if err != nil {
		res.Err = &CallError{Plugin: s.spec.ID, Callable: name, Status: st, Err: explain(st, err)}
	}
	switch st {
	case StatusTimeout, StatusCrashed:
		// A remote runner that timed out but still answers its health
		// check keeps its connection (§6.5 step 4); others reconnect.
		if st == StatusTimeout && in.remote != nil && in.health(ctx, s.opts.timeoutFor(name)) == nil {
			break
		}
		s.requestRestart(in, st, res.Err)
	case StatusSuccess:
		s.mu.Lock()
		s.streak = 0
		s.mu.Unlock()
	}
	s.record(name, st, charge, res.Err)
	if st == StatusCrashed {
		// After the stop rules saw it: naming the exit may wait for the reap.
		res.Err = &CallError{Plugin: s.spec.ID, Callable: name, Status: st, Err: explain(st, withExit(in, err))}
	}
	return res
}

// maxRequestPayload leaves room for the protobuf framing around the JSON.
func maxRequestPayload() int { return wire.MaxMessageBytes - 64<<10 }

// fitsOneRequest says whether jsonBytes of JSON payload (one call's, or
// Tick's input and a Predict call's sent together) are within the size
// bound of one request message: the one size rule of every request.
func fitsOneRequest(jsonBytes int) bool { return jsonBytes <= maxRequestPayload() }

// errReloaded is the restart cause of a reload.
var errReloaded = errors.New("reloaded: binary rebuilt")

// reload starts the plugin again from its binary path, e.g. after a
// rebuild: a running plugin is killed and relaunched (calls in between
// answer ABSENT for models, wait for challenges); a plugin stopped by the
// stop rules, or cooling down, is revived at once with fresh counters. It fails only after close.
func (s *supervisor) reload(sha256Hex *string) error {
	s.mu.Lock()
	if sha256Hex != nil {
		s.sha256 = *sha256Hex
	}
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: closed", ErrStopped)
	}
	s.consecFail, s.consecTO, s.streak, s.coolStreak = 0, 0, 0, 0
	s.twoCalls.Store(false)
	s.noBatch.Store(false)
	if !s.stopped && !s.cooling {
		in := s.cur
		s.mu.Unlock()
		if in != nil {
			s.requestRestart(in, StatusSuccess, errReloaded)
		}
		return nil
	}
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	s.wg.Wait() // the stopped generation's loop has ended
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: closed", ErrStopped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.stopped, s.cooling, s.reason, s.lastErr = false, false, "", ""
	s.nextRetry = time.Time{}
	s.ready, s.readyClosed = make(chan struct{}), false
	s.firstDone = make(chan struct{})
	s.wg.Add(1)
	go s.loop(ctx)
	s.log.Info("plugin reloaded after being stopped", "generation", s.gen)
	return nil
}

// close shuts the plugin down and waits for the loop (and so the process)
// to end.
func (s *supervisor) close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	if !s.readyClosed {
		close(s.ready)
		s.readyClosed = true
	}
	gen := s.gen
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	s.wg.Wait()
	if !already {
		s.log.Debug("plugin closed", "generation", gen)
		s.emit(Event{Time: time.Now().UTC(), Kind: EventClosed, PluginID: s.spec.ID, Generation: gen})
	}
}
