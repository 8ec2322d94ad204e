package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// ModelSet supervises N participant model plugins and fans calls out to
// them concurrently. Every result map has exactly one entry per model id,
// in every case: a stopped model (or one between restarts) gets ABSENT with
// the reason in Err. Safe for concurrent use.
//
// Models can join and leave a running set (Upsert, Retire: the models of an
// orchestrator); a model that joins is warmed up with the last Tick input.
type ModelSet struct {
	mu       sync.RWMutex
	order    []string
	sups     map[string]*supervisor
	opts     Options
	lastTick json.RawMessage
	closed   bool
	once     sync.Once
}

// StartModels launches every model plugin (at most opts.MaxParallelStarts
// at a time) and returns once each has finished its first start attempt.
// A model that fails to start does not fail the set: a BAD_IMPLEMENTATION
// start (bad path, checksum, handshake, contract) stops it at once; a
// CRASHED or TIMEOUT start counts toward the stop rules and is retried with
// backoff. The only errors are invalid specs (ErrInvalidSpec: empty or
// duplicate ID) and ctx ending before every first attempt finished (the set
// is then closed).
func StartModels(ctx context.Context, specs []PluginSpec, opts Options) (*ModelSet, error) {
	opts = opts.withDefaults()
	ms := &ModelSet{sups: make(map[string]*supervisor, len(specs)), opts: opts}
	for i, sp := range specs {
		if sp.ID == "" {
			return nil, fmt.Errorf("%w: specs[%d] (%s) has an empty ID", ErrInvalidSpec, i, sp.Path)
		}
		if _, dup := ms.sups[sp.ID]; dup {
			return nil, fmt.Errorf("%w: specs[%d] repeats model id %q", ErrInvalidSpec, i, sp.ID)
		}
		ms.sups[sp.ID] = nil
		ms.order = append(ms.order, sp.ID)
	}
	sem := make(chan struct{}, opts.MaxParallelStarts)
	var wg sync.WaitGroup
	for _, sp := range specs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		s := newSupervisor(sdk.PluginModel, sp, nil, opts)
		ms.mu.Lock()
		ms.sups[sp.ID] = s
		ms.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case <-s.firstDone:
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		_ = ms.Close()
		return nil, fmt.Errorf("start %d model plugins: %w", len(specs), ctx.Err())
	}
	return ms, nil
}

// IDs returns the model ids in spec order (models added by Upsert last).
func (m *ModelSet) IDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]string(nil), m.order...)
}

// member is one model of a snapshot: its id and supervisor (nil for a
// model never started).
type member struct {
	id string
	s  *supervisor
}

// snapshot returns the models in order.
func (m *ModelSet) snapshot() []member {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]member, len(m.order))
	for i, id := range m.order {
		out[i] = member{id: id, s: m.sups[id]}
	}
	return out
}

func (m *ModelSet) sup(id string) *supervisor {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.sups[id]
}

// Upsert adds model spec.ID to the set, or replaces its supervisor when
// the id is known (a new address or deployment; a retired model comes
// back): the old one is closed and a new one started, its first generation
// warmed up with the last Tick input. It does not wait for the start;
// until then the model answers ABSENT. Errors: ErrInvalidSpec for an empty
// id, ErrStopped after Close.
func (m *ModelSet) Upsert(spec PluginSpec) error {
	if spec.ID == "" {
		return fmt.Errorf("%w: upsert of a model with an empty ID", ErrInvalidSpec)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: model set closed", ErrStopped)
	}
	old, known := m.sups[spec.ID]
	m.sups[spec.ID] = startSupervisor(sdk.PluginModel, spec, nil, m.opts, m.lastTick)
	if !known {
		m.order = append(m.order, spec.ID)
	}
	m.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// Retire takes model id out for good (StopRetired, with why as its last
// error): no more calls, its connection or process is closed, and it
// answers ABSENT (a non-answer) until Upsert brings it back. Unknown ids
// return ErrInvalidSpec.
func (m *ModelSet) Retire(id string, why error) error {
	s := m.sup(id)
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	s.stopFor(StopRetired, StatusAbsent, why)
	return nil
}

// Tick sends input (a JSON object) to every model concurrently, each call
// with its own Options.CallTimeout (or CallTimeouts[sdk.MethodTick]) deadline.
// The map has one CallResult per model id; Output is nil for Tick.
func (m *ModelSet) Tick(ctx context.Context, input json.RawMessage) map[string]CallResult {
	m.noteTick(input)
	return m.fanOut(ctx, sdk.MethodTick, len(input), func(ctx context.Context, in *instance) (json.RawMessage, error) {
		return nil, in.model.Tick(ctx, input)
	})
}

// noteTick keeps a copy of input as the last Tick input of the set and of
// every model (for warm-ups): one copy, shared read-only.
func (m *ModelSet) noteTick(input json.RawMessage) {
	cp := append(json.RawMessage(nil), input...)
	m.mu.Lock()
	m.lastTick = cp
	for _, s := range m.sups {
		if s != nil {
			s.setLastTick(cp)
		}
	}
	m.mu.Unlock()
}

// ConfirmOutput reports the caller's verdict on model id's last SUCCESS
// Predict answer (with Options.ConfirmOutputs): nil for a valid answer,
// which resets the model's consecutive-failure counters and ends its
// cool-down streak; an error for an invalid one, which counts as a FAILED
// result and may take the model out for a cool-down (MULTIPLE_FAILED).
// Unknown ids are ignored.
func (m *ModelSet) ConfirmOutput(id string, invalid error) {
	if s := m.sup(id); s != nil {
		s.confirmOutput(invalid)
	}
}

// Predict sends the same args (JSON values) and kwargs (a JSON object) to
// every model concurrently, each call with its own deadline. A SUCCESS
// result's Output is the model's answer, checked to be valid JSON; an
// answer that is not (NaN, truncated text) is a FAILED result wrapping
// ErrInvalidOutput, like any invalid output, never BAD_IMPLEMENTATION.
func (m *ModelSet) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) map[string]CallResult {
	size := predictBytes(args, kwargs)
	return m.fanOut(ctx, sdk.MethodPredict, size, func(ctx context.Context, in *instance) (json.RawMessage, error) {
		return m.checkOutput(in.model.Predict(ctx, args, kwargs))
	})
}

// predictBytes is the JSON payload size of a Predict request.
func predictBytes(args []json.RawMessage, kwargs json.RawMessage) int {
	size := len(kwargs)
	for _, a := range args {
		size += len(a) + 8
	}
	return size
}

// checkOutput applies the rules of a Predict answer (see Predict).
func (m *ModelSet) checkOutput(out json.RawMessage, err error) (json.RawMessage, error) {
	if berr := boundOutput(out, err, m.opts.MaxOutputBytes); errors.Is(berr, ErrInvalidOutput) {
		return nil, berr // over MaxOutputBytes: FAILED, counted by the stop rules
	}
	if errors.Is(err, wire.ErrBadOutput) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || !json.Valid(out) {
		return nil, fmt.Errorf("%w: Predict answered %d bytes that are not one JSON value", ErrInvalidOutput, len(out))
	}
	return out, nil
}

func (m *ModelSet) fanOut(ctx context.Context, method string, reqBytes int, fn func(context.Context, *instance) (json.RawMessage, error)) map[string]CallResult {
	members := m.snapshot()
	res := make([]CallResult, len(members))
	m.each(members, method, res, func(i int, s *supervisor) {
		var output json.RawMessage
		r := s.call(ctx, method, false, reqBytes, func(cctx context.Context, in *instance) error {
			o, err := fn(cctx, in)
			output = o
			return err
		})
		if r.Status == StatusSuccess {
			r.Output = output
		}
		res[i] = r
	})
	return resultMap(members, res)
}

// each runs one(i, s) for every started model of members concurrently and
// sets the result of every model never started (res[i], ABSENT). Every
// model but the last gets its own goroutine; the last one's call runs on
// this goroutine, which would otherwise only wait (a set of one model then
// starts no goroutine at all). It returns when every call has returned.
func (m *ModelSet) each(members []member, method string, res []CallResult, one func(i int, s *supervisor)) {
	last := -1
	for i, mb := range members {
		if mb.s != nil {
			last = i
		}
	}
	var wg sync.WaitGroup
	for i, mb := range members {
		if mb.s == nil {
			res[i] = CallResult{Status: StatusAbsent, Err: &CallError{Plugin: mb.id, Callable: method, Status: StatusAbsent, Err: fmt.Errorf("%w: never started", ErrStopped)}}
			continue
		}
		if i == last {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(i, mb.s)
		}()
	}
	if last >= 0 {
		one(last, members[last].s)
	}
	wg.Wait()
}

// resultMap keys res by the ids of members.
func resultMap(members []member, res []CallResult) map[string]CallResult {
	out := make(map[string]CallResult, len(members))
	for i, mb := range members {
		out[mb.id] = res[i]
	}
	return out
}

// States returns the supervisor's view of every model, in spec order.
func (m *ModelSet) States() []ModelState {
	members := m.snapshot()
	out := make([]ModelState, 0, len(members))
	for _, mb := range members {
		if mb.s != nil {
			out = append(out, mb.s.state())
		} else {
			out = append(out, ModelState{ID: mb.id, Stopped: true, LastError: "never started"})
		}
	}
	return out
}

// WaitReady blocks until model id has a running generation. It returns an
// error wrapping ErrStopped when the model is stopped or the set closed,
// ctx's error when ctx ends first, and ErrInvalidSpec for an unknown id.
func (m *ModelSet) WaitReady(ctx context.Context, id string) error {
	s := m.sup(id)
	if s == nil {
		return fmt.Errorf("%w: unknown model id %q", ErrInvalidSpec, id)
	}
	err := s.waitReady(ctx)
	if err != nil && !errors.Is(err, ErrStopped) && ctx.Err() != nil {
		return fmt.Errorf("model %s: %w", id, ctx.Err())
	}
	return err
}

// Close shuts every model down in parallel (graceful gRPC shutdown, then a
// SIGKILL to each process group, each phase bounded by Options.KillTimeout)
// and returns when every child process is reaped. Calls after Close return
// ABSENT. Close is idempotent and always returns nil.
func (m *ModelSet) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		var wg sync.WaitGroup
		for _, mb := range m.snapshot() {
			s := mb.s
			if s == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.close()
			}()
		}
		wg.Wait()
	})
	return nil
}
