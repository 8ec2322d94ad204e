package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// StageConnect is a remote model's connect attempt: the channel ready and
// health SERVING within the start timeout.
const StageConnect = "connect"

// ErrConnectionLost: a remote model runner's connection failed (the
// server went away or the network broke); the supervisor reconnects with
// backoff and the model answers ABSENT meanwhile.
var ErrConnectionLost = errors.New("connection to the remote model runner lost")

// RemoteSpec makes a model a remote model runner: a model served elsewhere
// (a container on an orchestrator, another machine) that the host reaches
// over CrunchDAO's model-runner protocol (reference-system.md §6). No
// process is started; the supervisor's generations are connections, so a
// lost connection is reconnected with the restart backoff, and the stop,
// cool-down and re-admission rules are those of every model.
//
//   - Address is host:port.
//   - BaseClass is the challenge's base class, "module.ClassName", sent in
//     Setup.
//   - DialOptions select the transport (modelrunner.Security.DialOptions:
//     plaintext, mutual TLS, TLS with gateway signatures); nil is
//     plaintext.
//   - Deployment, ModelName, PlayerID and PlayerName, when set, describe
//     the deployment (run) this address belongs to and its owner
//     (orchestrator models); they are reported in ModelState.
type RemoteSpec struct {
	Address     string
	BaseClass   string
	DialOptions []grpc.DialOption
	Deployment  string
	ModelName   string
	PlayerID    string
	PlayerName  string
}

// remoteConn is the connection state of one remote generation: lost is
// closed (once) when the main channel fails or the generation is stopped.
type remoteConn struct {
	address string
	cancel  context.CancelFunc
	lost    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	cause   error
}

func (r *remoteConn) markLost(cause error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.cause = cause
		r.mu.Unlock()
		close(r.lost)
	})
}

// remoteModel adapts a remote model-runner client to modelCaller. A
// RESOURCE_EXHAUSTED answer ("Server busy": the runner still runs an
// earlier call whose deadline passed, §6.6) is reported as a deadline
// exceeded, so it counts as a TIMEOUT of a slow model, not as a broken one.
type remoteModel struct{ c *modelrunner.Client }

// runnerRequests encodes each tick input and each predict call once for
// every remote or Python model of the process: a fan-out sends the same
// request to all of them (issue 15: a thousand remote models). Different
// requests (several model sets, several due rows) only re-encode.
var runnerRequests modelrunner.Requests

func (m remoteModel) Tick(ctx context.Context, input json.RawMessage) error {
	r, err := runnerRequests.Tick(input)
	if err != nil {
		return err
	}
	_, err = m.c.Send(ctx, r)
	return busyAsTimeout(err)
}

func (m remoteModel) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	r, err := runnerRequests.Predict(args, kwargs)
	if err != nil {
		return nil, err
	}
	out, err := m.c.Send(ctx, r)
	return out, busyAsTimeout(err)
}

func busyAsTimeout(err error) error {
	if status.Code(err) == codes.ResourceExhausted {
		return status.Errorf(codes.DeadlineExceeded, "model runner busy with an earlier call: %v", err)
	}
	return err
}

// launchRemote connects one generation of a remote model: dial its channel
// (with the spec's transport), wait for health SERVING on it, then
// Setup(BaseClass), all within the start timeout. Unreachable, unhealthy
// or refusing TLS: CRASHED (retried with backoff under the stop rules);
// Setup BAD_IMPLEMENTATION or a misuse code: BAD_IMPLEMENTATION (stopped);
// other Setup codes: FAILED.
//
// A watcher marks the generation lost when the main channel enters
// TRANSIENT_FAILURE (the server went away), so the supervisor reconnects
// with backoff instead of waiting for calls to time out.
func launchRemote(ctx context.Context, spec PluginSpec, gen int, opts Options) (*instance, *StartError) {
	rs := spec.Remote
	fail := func(stage string, st Status, err error) *StartError {
		return &StartError{Plugin: spec.ID, Kind: sdk.PluginModel, Path: rs.Address, Stage: stage, Status: st, Err: err}
	}
	if rs.BaseClass == "" || !strings.Contains(rs.BaseClass, ".") {
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: base class %q: expected module.ClassName (the challenge's Python base class, e.g. tracker.TrackerBase)", ErrInvalidSpec, rs.BaseClass))
	}
	c, err := modelrunner.Dial(rs.Address, append(append([]grpc.DialOption(nil), rs.DialOptions...), opts.modelDialOption())...)
	if err != nil {
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: %w", ErrInvalidSpec, err))
	}
	wctx, cancel := context.WithCancel(context.Background())
	rc := &remoteConn{address: rs.Address, cancel: cancel, lost: make(chan struct{})}
	in := &instance{kind: sdk.PluginModel, id: spec.ID, gen: gen, ring: newRingBuffer(4 << 10), mr: c, remote: rc, done: rc.lost, model: remoteModel{c}}
	in.log = opts.Logger.Named(sdk.PluginModel).With("plugin_id", spec.ID, "generation", gen, "runtime", "remote", "address", rs.Address)
	startFail := func(stage string, st Status, err error) (*instance, *StartError) {
		in.stopRemote()
		se := fail(stage, st, err)
		if ctx.Err() != nil {
			se.Status = StatusFailed
		}
		return nil, se
	}
	sctx, scancel := context.WithTimeout(ctx, opts.startTimeout(spec))
	defer scancel()
	if err := c.WaitHealthy(sctx); err != nil {
		return startFail(StageConnect, StatusCrashed, fmt.Errorf("%w: %s not reachable and SERVING within %s: %w", ErrConnectionLost, rs.Address, opts.startTimeout(spec), err))
	}
	if err := c.Setup(sctx, rs.BaseClass); err != nil {
		var se *modelrunner.StatusError
		var st Status
		switch {
		case errors.As(err, &se) && (se.BadImplementation() || se.Misuse()):
			st = StatusBadImplementation
		case errors.As(err, &se):
			st = StatusFailed
		default:
			st, _ = classifyCall(ctx, sctx, err, nil)
		}
		return startFail(StageSetup, st, fmt.Errorf("Setup(%s) at %s: %w", rs.BaseClass, rs.Address, err))
	}
	go watchRemote(wctx, c, rc)
	in.mdesc = wire.ModelDescription{ModelName: spec.ID, Methods: []string{sdk.MethodTick, sdk.MethodPredict}}
	in.log.Debug("remote model ready")
	return in, nil
}

// watchRemote marks rc lost when the main channel reports
// TRANSIENT_FAILURE or shuts down; it ends with ctx (stopRemote). A
// channel that went IDLE (grpc-go's state after a lost connection, or
// after idleness) is asked to reconnect at once, so a server that went
// away shows as TRANSIENT_FAILURE without waiting for the next call.
func watchRemote(ctx context.Context, c *modelrunner.Client, rc *remoteConn) {
	for {
		st := c.State()
		switch st {
		case connectivity.Idle:
			c.Connect()
		case connectivity.TransientFailure, connectivity.Shutdown:
			rc.markLost(fmt.Errorf("%w: %s (channel %s)", ErrConnectionLost, rc.address, st))
			return
		}
		if !c.WaitForStateChange(ctx, st) {
			return
		}
	}
}

// stopRemote closes a remote generation's channels and its watcher.
func (in *instance) stopRemote() {
	in.remote.cancel()
	in.remote.markLost(fmt.Errorf("%w: %s closed by the host", ErrConnectionLost, in.remote.address))
	if in.mr != nil {
		_ = in.mr.Close()
	}
}

// exitCause says why a generation's done channel closed: the process
// exit state, or a remote connection's loss.
func (in *instance) exitCause() error {
	if in.remote != nil {
		in.remote.mu.Lock()
		defer in.remote.mu.Unlock()
		if in.remote.cause != nil {
			return in.remote.cause
		}
		return ErrConnectionLost
	}
	return exitCause(in)
}
