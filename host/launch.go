package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/sandbox"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Start stages reported in StartError.Stage.
const (
	StageCheck     = "check"     // path, mode, checksum: nothing was executed
	StageHandshake = "handshake" // go-plugin handshake (first stdout line, versions, mTLS)
	StageDispense  = "dispense"
	StageDescribe  = "describe"
	StageVerify    = "verify" // VerifyChallenge / VerifyModel found fatal problems
)

// StartError is a failed plugin launch. Status is BAD_IMPLEMENTATION
// (bad path or mode, checksum mismatch, handshake rejected, wrong contract,
// missing callable), TIMEOUT (no handshake or Describe within its deadline),
// CRASHED (the process died before answering, e.g. a panic at start) or
// FAILED with Err wrapping ErrNodeSide (the node's own failure: see
// NodeSide).
// FirstStdoutLine is what the binary printed instead of the handshake (if
// anything); StderrTail the last lines of its stderr; Problems the
// verification problems at StageVerify. Exit says how the process ended
// before the handshake and CookieRejected whether it was go-plugin's
// refusal of the host's magic cookie: the facts Diagnostic explains.
type StartError struct {
	Plugin          string
	Kind            string // sdk.PluginChallenge or sdk.PluginModel
	Path            string
	Stage           string
	Status          Status
	Err             error
	FirstStdoutLine string
	StderrTail      string
	Problems        []Problem
	Exit            ExitFacts
	CookieRejected  bool
}

// Error names the plugin, its path, the stage and the cause.
func (e *StartError) Error() string {
	s := fmt.Sprintf("start plugin %s (%s): %s: %s: %v", e.Plugin, e.Path, e.Stage, e.Status, e.Err)
	if e.FirstStdoutLine != "" && e.Stage == StageHandshake {
		s += fmt.Sprintf(" [first stdout line: %q]", e.FirstStdoutLine)
	}
	return s
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// NodeSide reports whether the launch failed on the node's side (Err wraps
// ErrNodeSide): the one rule for such failures is that they are never
// charged to the plugin. The supervisor retries them with backoff; the stop
// rules do not count them and the model is not stopped for them (a
// challenge's first start still fails the node's start).
func (e *StartError) NodeSide() bool { return errors.Is(e.Err, ErrNodeSide) }

// startStatus is the Status of a launch that failed before the exec with
// err: FAILED for a node-side failure (ErrNodeSide, not charged), else
// BAD_IMPLEMENTATION (the plugin's path, mode, checksum or spec).
func startStatus(err error) Status {
	if errors.Is(err, ErrNodeSide) {
		return StatusFailed
	}
	return StatusBadImplementation
}

// Sentinel causes of StageCheck failures.
var (
	ErrNotFound       = errors.New("plugin binary not found")
	ErrNotRegularFile = errors.New("plugin path is not a regular file")
	ErrNotExecutable  = errors.New("plugin binary is not executable")
	ErrChecksumPin    = errors.New("plugin binary does not match its SHA-256 pin")
	// ErrNodeSide: the launch failed on the node's side, e.g. its sandbox
	// could not be set up (sandbox.ErrSetup: a cgroup limit the kernel
	// refused, a box directory it could not create); see
	// StartError.NodeSide.
	ErrNodeSide        = errors.New("node-side launch failure (not the plugin's)")
	ErrInvalidSpec     = errors.New("invalid plugin spec")
	ErrUnsupportedKind = errors.New("unsupported plugin kind")
)

// CheckBinary checks, without executing anything, that path is an existing
// regular file with an execute bit and, when sha256Hex is non-empty, that its
// SHA-256 equals the pin. Errors wrap ErrNotFound, ErrNotRegularFile,
// ErrNotExecutable or ErrChecksumPin and name the path.
func CheckBinary(path, sha256Hex string) error {
	if path == "" {
		return fmt.Errorf("%w: empty path (expected the path of an executable plugin binary)", ErrNotFound)
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist (expected an executable plugin binary)", ErrNotFound, path)
		}
		return fmt.Errorf("%w: stat %s: %w", ErrNotFound, path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: %s is a directory (expected an executable plugin binary; build it with `go build -o`)", ErrNotRegularFile, path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s has mode %s (expected a regular executable file)", ErrNotRegularFile, path, fi.Mode())
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s has mode %s (expected an execute bit; chmod +x it)", ErrNotExecutable, path, fi.Mode().Perm())
	}
	return checkSum(path, sha256Hex, FileSHA256)
}

// outLog registers l (a stream of the plugin's output) so that its
// suppression summary is logged when the instance stops.
func (in *instance) outLog(l *lineLogger) *lineLogger {
	in.outLogs = append(in.outLogs, l)
	return l
}

func (in *instance) flushOutLogs() {
	for _, l := range in.outLogs {
		l.Flush()
	}
}

// dialOptions are the gRPC options of a plugin connection: the contract's
// size caps, and for a model the cap of its answers (MaxOutputBytes).
func dialOptions(kind string, opts Options) []grpc.DialOption {
	o := wire.DialOptions()
	if kind == sdk.PluginModel {
		o = append(o, opts.modelDialOption())
	}
	return o
}

// instance is one generation of one plugin process: started, handshaken,
// described and verified.
type instance struct {
	kind  string
	id    string
	gen   int
	log   hclog.Logger
	cl    *plugin.Client
	run   *procRunner
	ring  *ringBuffer
	conn  *grpc.ClientConn
	chal  *wire.ChallengeClient
	model modelCaller // *wire.ModelClient, or runnerModel for a Python model
	mr    *modelrunner.Client
	// remote is set for a remote model runner (no process: run is nil).
	remote *remoteConn
	// sockDir is a Python model's private socket directory, removed at stop.
	sockDir string
	done    <-chan struct{}
	cdesc   wire.ChallengeDescription
	mdesc   wire.ModelDescription
	probs   []Problem
	// outLogs are the plugin's rate-limited output streams.
	outLogs []*lineLogger
	// retired is set when the supervisor takes the instance out of service.
	retired atomic.Bool
	// streams is the context of the streams kept open on this generation
	// across calls (a model's live stream, see ModelSet.TickPredict); the
	// supervisor loop sets it before the generation serves and cancels it
	// (endStreams) once the generation has been stopped.
	streams    context.Context
	endStreams context.CancelFunc
}

// launch starts one generation of a plugin of kind (sdk.PluginChallenge or
// sdk.PluginModel): check the binary, exec it through procRunner, handshake,
// dispense, Describe and verify. Every object is new (go-plugin clients are
// single-use). On failure the process is gone when launch returns; at
// StageVerify the stopped instance is returned too, for its description.
func launch(ctx context.Context, kind string, spec PluginSpec, gen int, data sdk.HostData, opts Options) (*instance, *StartError) {
	fail := func(stage string, st Status, err error) *StartError {
		return &StartError{Plugin: spec.ID, Kind: kind, Path: spec.Path, Stage: stage, Status: st, Err: err}
	}
	if spec.Remote != nil {
		if kind != sdk.PluginModel {
			return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: only models can be remote, not %q", ErrUnsupportedKind, kind))
		}
		return launchRemote(ctx, spec, gen, opts)
	}
	if spec.Runner != nil {
		if kind != sdk.PluginModel {
			return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: only models can run in the Python model runner, not %q", ErrUnsupportedKind, kind))
		}
		return launchRunner(ctx, spec, gen, opts)
	}
	if err := CheckBinary(spec.Path, spec.SHA256); err != nil {
		return nil, fail(StageCheck, StatusBadImplementation, err)
	}
	var ps plugin.Plugin
	switch kind {
	case sdk.PluginChallenge:
		ps = wire.NewChallengePlugin(nil, sdk.ChallengeInfo{}, data)
	case sdk.PluginModel:
		ps = wire.NewModelPlugin(nil, sdk.ModelInfo{})
	default:
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w %q (expected %q or %q)", ErrUnsupportedKind, kind, sdk.PluginChallenge, sdk.PluginModel))
	}

	// The SDK reads its log level from the environment; spec.Env may override.
	spec.Env = append([]string{sdk.EnvPluginLogLevel + "=" + pluginLogLevel(opts.Logger)}, spec.Env...)
	in := &instance{kind: kind, id: spec.ID, gen: gen, ring: newRingBuffer(64 << 10)}
	in.log = opts.Logger.Named(kind).With("plugin_id", spec.ID, "generation", gen)
	box, err := prepareBox(opts, sandbox.Plugin{ID: spec.ID, Exec: spec.Path, Args: spec.Args,
		Network: kind == sdk.PluginChallenge && opts.Sandbox.ChallengeNetwork, Challenge: kind == sdk.PluginChallenge}, in.log)
	if err != nil {
		return nil, fail(StageCheck, startStatus(err), err)
	}
	runCh := make(chan *procRunner, 1)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  wire.HandshakeConfig(),
		Plugins:          plugin.PluginSet{kind: ps},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     opts.startTimeout(spec),
		Logger:           in.log,
		Stderr:           teeRing(in.ring, spec.stderrLog),
		SyncStdout:       in.outLog(newLineLogger(in.log, "stdout")),
		SyncStderr:       teeLines(in.outLog(newLineLogger(in.log, "stderr")), spec.stderrLog),
		GRPCDialOptions:  dialOptions(kind, opts),
		SkipHostEnv:      true,
		UnixSocketConfig: socketConfig(box),
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
			box.AddWriteDir(socketDir) // the plugin's go-plugin listener
			r, err := newProcRunner(spec, cmd, box)
			if err == nil {
				runCh <- r
			}
			return r, err
		},
		// SecureConfig is not set: go-plugin checks it against the Cmd path,
		// which is empty with a RunnerFunc. CheckBinary above does the same
		// check with a fresh SecureConfig right before the exec.
	}
	in.cl = plugin.NewClient(cfg)

	type result struct {
		proto plugin.ClientProtocol
		err   error
	}
	resCh := make(chan result, 1)
	go func() {
		p, err := in.cl.Client()
		resCh <- result{p, err}
	}()
	var res result
	select {
	case res = <-resCh:
	case <-ctx.Done():
		// Client.Start holds the client's lock until it returns; killing the
		// process makes it return at once.
		select {
		case r := <-runCh:
			in.run = r
			_ = r.Kill(context.Background())
		default:
		}
		res = <-resCh
		if res.err == nil {
			res.err = ctx.Err()
		}
	}
	if in.run == nil {
		select {
		case in.run = <-runCh:
		default:
			box.Close() // no runner took it
		}
	}
	if res.err != nil {
		in.stop(opts.KillTimeout, false) // Kill first: it waits for the stderr reader
		se := fail(StageHandshake, classifyStart(res.err, in), res.err)
		if in.run != nil {
			se.FirstStdoutLine = in.run.stdout.firstLine()
			if st := in.run.exitState(); st != "" && se.Status != StatusTimeout {
				se.Err = fmt.Errorf("%w (process %s)", se.Err, st)
			}
		}
		se.StderrTail = in.ring.Tail(4096)
		if in.run != nil {
			se.Exit = in.run.exitFacts()
			se.CookieRejected = cookieRejected(se.Exit, se.FirstStdoutLine, se.StderrTail)
		}
		if ctx.Err() != nil {
			se.Status = StatusFailed
		}
		return nil, se
	}
	if gc, ok := res.proto.(*plugin.GRPCClient); ok {
		in.conn = gc.Conn
	}
	raw, err := res.proto.Dispense(kind)
	if err != nil {
		in.stop(opts.KillTimeout, false)
		return nil, fail(StageDispense, StatusBadImplementation, fmt.Errorf("dispense %q: %w", kind, err))
	}
	dctx, cancel := context.WithTimeout(ctx, opts.DescribeTimeout)
	defer cancel()
	switch c := raw.(type) {
	case *wire.ChallengeClient:
		in.chal, in.done = c, c.Done()
		in.cdesc, err = c.Describe(dctx)
		if err == nil {
			in.probs = VerifyChallenge(in.cdesc)
		}
	case *wire.ModelClient:
		in.model, in.done = c, c.Done()
		in.mdesc, err = c.Describe(dctx)
		if err == nil {
			in.probs = VerifyModel(in.mdesc)
		}
	default:
		err = fmt.Errorf("dispense %q returned %T (expected a wire client)", kind, raw)
	}
	if err != nil {
		st, _ := classifyCall(ctx, dctx, err, in.done)
		if st == StatusFailed && ctx.Err() == nil {
			st = StatusBadImplementation // Describe must not fail
		}
		in.stop(opts.KillTimeout, false)
		se := fail(StageDescribe, st, explain(st, err))
		se.StderrTail = in.ring.Tail(4096)
		return nil, se
	}
	if fatal := FatalProblems(in.probs); len(fatal) > 0 {
		in.stop(opts.KillTimeout, false)
		se := fail(StageVerify, StatusBadImplementation, problemsError(fatal))
		se.Problems = in.probs
		return in, se // stopped; returned for its description (doctor)
	}
	for _, p := range in.probs {
		in.log.Warn("plugin contract warning", "problem", p.String())
	}
	in.log.Debug("plugin ready", "pid", in.run.processID(), "negotiated_version", in.cl.NegotiatedVersion())
	return in, nil
}

// classifyStart maps a failed handshake to a Status using what the runner
// saw: go-plugin's start errors are plain strings, so only its documented
// timeout prefix is matched (plugin-host-notes §1).
func classifyStart(err error, in *instance) Status {
	if strings.HasPrefix(err.Error(), "timeout while waiting for plugin to start") {
		return StatusTimeout
	}
	if in.run == nil {
		return StatusBadImplementation
	}
	if in.run.stdout.firstLine() != "" {
		return StatusBadImplementation // noise on stdout, wrong versions, wrong protocol
	}
	tail := in.ring.Tail(64 << 10)
	if in.run.exitedBySignal() || strings.Contains(tail, "panic: ") || strings.Contains(tail, "fatal error: ") {
		return StatusCrashed
	}
	return StatusBadImplementation // exited before the handshake: wrong cookie, os.Exit in init
}

// stop ends the instance within about 3×killTimeout. graceful asks the plugin
// to shut down over gRPC first (go-plugin's Kill); otherwise the process
// group is SIGKILLed at once. go-plugin's Kill can block (a frozen plugin, a
// hung ClientConn.Close), so it runs in a goroutine; the group SIGKILL is the
// fallback, and a Kill that still does not return is logged as a leak.
func (in *instance) stop(killTimeout time.Duration, graceful bool) {
	defer in.flushOutLogs()
	if in.remote != nil {
		in.stopRemote()
		return
	}
	if in.cl == nil {
		in.stopRunner(killTimeout, graceful)
		return
	}
	if !graceful && in.run != nil {
		_ = in.run.Kill(context.Background())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.cl.Kill()
	}()
	select {
	case <-done:
	case <-time.After(killTimeout):
		in.log.Warn("plugin Kill did not return in time; SIGKILL to its process group", "timeout", killTimeout)
		if in.run != nil {
			_ = in.run.Kill(context.Background())
		}
		select {
		case <-done:
		case <-time.After(killTimeout):
			in.log.Error("plugin Kill still blocked after SIGKILL; goroutine leaked", "timeout", killTimeout)
		}
	}
	if in.run != nil {
		_ = in.run.Kill(context.Background()) // grandchildren of a gracefully exited plugin
		select {
		case <-in.run.exited:
		case <-time.After(killTimeout):
			in.log.Error("plugin process not reaped after SIGKILL", "pid", in.run.processID())
		}
	}
}

// health runs the standard gRPC health check on the plugin's connection with
// its own deadline and requires SERVING (go-plugin's Ping has no deadline and
// ignores NOT_SERVING).
func (in *instance) health(ctx context.Context, timeout time.Duration) error {
	if in.mr != nil {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return in.mr.Health(hctx)
	}
	if in.conn == nil {
		return errors.New("no gRPC connection")
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(in.conn).Check(hctx, &healthpb.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return fmt.Errorf("health check of plugin %s: %w", in.id, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check of plugin %s: expected SERVING, found %s", in.id, resp.GetStatus())
	}
	return nil
}

// exited reports whether the plugin process is gone.
func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// pluginLogLevel is the level name the plugin should log at: the host
// logger's level (plugin lines below it would be dropped anyway), but at
// least warn, so the stderr tail kept for diagnostics has the plugin's errors.
func pluginLogLevel(l hclog.Logger) string {
	switch lv := l.GetLevel(); lv {
	case hclog.NoLevel, hclog.Off, hclog.Error:
		return "warn"
	default:
		return strings.ToLower(lv.String())
	}
}
