//go:build unix

package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/sandbox"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// StageSetup is the model-runner Setup call (find and instantiate the
// participant's subclass) of a Python model's start.
const StageSetup = "setup"

// RunnerSpec makes a model a local Python model served by the model runner
// (sdk/python, package coordinator_runner) over CrunchDAO's model-runner
// protocol instead of a go-plugin binary (reference-system.md §6).
//
//   - Python is the interpreter (it needs the grpc and protobuf packages).
//   - RunnerDir is the directory holding the coordinator_runner package; it
//     becomes the model's PYTHONPATH.
//   - CodeDir is the participant's model directory: every .py file in it is
//     imported at Setup.
//   - BaseClass is the challenge's base class, "module.ClassName" (the
//     reference's MODEL_BASE_CLASSNAME), e.g. "tracker.TrackerBase".
//   - Paths are directories put on sys.path before CodeDir (the
//     challenge's Python directory holding the base class module).
type RunnerSpec struct {
	Python    string
	RunnerDir string
	CodeDir   string
	BaseClass string
	Paths     []string
}

// modelCaller is what a model instance answers: a go-plugin model
// (*wire.ModelClient) or a model runner (runnerModel).
type modelCaller interface {
	Tick(ctx context.Context, input json.RawMessage) error
	Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error)
}

// runnerModel adapts a model-runner client to modelCaller.
type runnerModel struct{ c *modelrunner.Client }

func (m runnerModel) Tick(ctx context.Context, input json.RawMessage) error {
	r, err := runnerRequests.Tick(input)
	if err != nil {
		return err
	}
	_, err = m.c.Send(ctx, r)
	return err
}

func (m runnerModel) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	r, err := runnerRequests.Predict(args, kwargs)
	if err != nil {
		return nil, err
	}
	return m.c.Send(ctx, r)
}

// launchRunner starts one generation of a Python model: the interpreter
// runs coordinator_runner in its own process group (same procRunner as
// plugins: Setpgid, Pdeathsig, group SIGKILL, environment allowlist), bound
// to a Unix socket in a private 0700 directory; the host waits for the
// address file, for health (grpc.health.v1 on a separate channel) and for
// Setup, all within the start timeout. stdout is logged and otherwise
// ignored (noise breaks nothing); stderr is logged and its tail kept.
//
// Setup failures: BAD_IMPLEMENTATION (the participant's code: import
// error, no subclass, several subclasses) stops the model; other codes
// (SETUP_FAILED: constructor exception, base class not found) are FAILED
// and retried with backoff under the stop rules.
//
// Sandbox: the runner starts in its own box like a plugin binary; its
// code, the model runner package and the challenge's Python directories
// are read in place, or from read-only copies when it runs as the sandbox
// uid (the node's files may not be readable for that uid).
func launchRunner(ctx context.Context, spec PluginSpec, gen int, opts Options) (*instance, *StartError) {
	rs := spec.Runner
	fail := func(stage string, st Status, err error) *StartError {
		return &StartError{Plugin: spec.ID, Path: rs.CodeDir, Stage: stage, Status: st, Err: err}
	}
	if rs.BaseClass == "" || !strings.Contains(rs.BaseClass, ".") {
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: base class %q: expected module.ClassName (the challenge's Python base class, e.g. tracker.TrackerBase)", ErrInvalidSpec, rs.BaseClass))
	}
	if fi, err := os.Stat(rs.CodeDir); err != nil || !fi.IsDir() {
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: Python model directory %s does not exist or is not a directory", ErrNotFound, rs.CodeDir))
	}
	if err := checkSum(rs.CodeDir, spec.SHA256, PythonCodeSHA256); err != nil {
		return nil, fail(StageCheck, StatusBadImplementation, err)
	}
	python, err := exec.LookPath(rs.Python)
	if err != nil {
		return nil, fail(StageCheck, StatusBadImplementation, fmt.Errorf("%w: Python interpreter %q: %w (set PYTHON in .local.env to an interpreter with grpcio and protobuf)", ErrNotFound, rs.Python, err))
	}
	log := opts.Logger.Named(sdk.PluginModel).With("plugin_id", spec.ID, "generation", gen, "runtime", "python")
	readDirs := append([]string{rs.RunnerDir, rs.CodeDir}, rs.Paths...)
	box, err := prepareBox(opts, sandbox.Plugin{ID: spec.ID, Exec: python, Interpreter: true, ReadDirs: readDirs, Dir: rs.CodeDir}, log)
	if err != nil {
		return nil, fail(StageCheck, startStatus(err), err)
	}
	// The socket and address file live in the box's scratch directory (the
	// only one the sandboxed runner may write), else in a private 0700
	// directory.
	dir, sockDir := box.Scratch, ""
	if dir == "" {
		if dir, err = os.MkdirTemp("", "coordinator-model-"); err != nil {
			return nil, fail(StageCheck, StatusFailed, fmt.Errorf("%w: private socket directory: %w", ErrNodeSide, err))
		}
		sockDir = dir
	}
	sock := filepath.Join(dir, "model.sock")
	addrFile := filepath.Join(dir, "address")
	args := []string{"-m", "coordinator_runner", "--code", box.Path(rs.CodeDir), "--listen", "unix:" + sock, "--address-file", addrFile}
	for _, p := range rs.Paths {
		args = append(args, "--path", box.Path(p))
	}
	env := append([]string{
		"PYTHONPATH=" + box.Path(rs.RunnerDir),
		"PYTHONDONTWRITEBYTECODE=1", // never write into the participant's folder
		"PYTHONUNBUFFERED=1",
		"PYTHONSAFEPATH=1",
	}, spec.Env...)
	box.SetArgs(args)
	run, err := newProcRunner(PluginSpec{ID: spec.ID, Path: python, Args: args, Env: env}, &exec.Cmd{}, box)
	if err != nil {
		box.Close()
		_ = os.RemoveAll(sockDir)
		return nil, fail(StageCheck, StatusFailed, err)
	}
	in := &instance{kind: sdk.PluginModel, id: spec.ID, gen: gen, ring: newRingBuffer(64 << 10), run: run, done: run.exited, sockDir: sockDir, log: log}
	if err := run.Start(ctx); err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fail(StageCheck, StatusBadImplementation, err)
	}
	go drain(run.stdout, in.outLog(newLineLogger(in.log, "stdout")))
	go drain(run.stderr, teeLines(io.MultiWriter(in.outLog(newLineLogger(in.log, "stderr")), lineRing{in.ring}), spec.stderrLog))

	startFail := func(stage string, st Status, err error) (*instance, *StartError) {
		es := run.exitState() // before the kill: only an exit of its own counts
		in.stop(opts.KillTimeout, false)
		se := fail(stage, st, err)
		if es != "" && st != StatusTimeout {
			se.Err = fmt.Errorf("%w (process %s)", se.Err, es)
		}
		se.StderrTail = in.ring.Tail(4096)
		if ctx.Err() != nil {
			se.Status = StatusFailed
		}
		return nil, se
	}
	sctx, cancel := context.WithTimeout(ctx, opts.startTimeout(spec))
	defer cancel()

	// 1. The runner writes its address once it serves.
	var target string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for target == "" {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			target = strings.TrimSpace(string(b))
			break
		}
		select {
		case <-tick.C:
		case <-run.exited:
			return startFail(StageHandshake, StatusCrashed, fmt.Errorf("%w before serving (is grpcio installed for %s?)", ErrPluginExited, python))
		case <-sctx.Done():
			return startFail(StageHandshake, StatusTimeout, fmt.Errorf("the model runner did not serve within the start timeout %s: %w", opts.startTimeout(spec), sctx.Err()))
		}
	}
	if !strings.HasPrefix(target, "unix:") {
		return startFail(StageHandshake, StatusBadImplementation, fmt.Errorf("the model runner reported address %q, expected the socket unix:%s", target, sock))
	}
	c, err := modelrunner.Dial("unix://"+strings.TrimPrefix(target, "unix:"), opts.modelDialOption())
	if err != nil {
		return startFail(StageHandshake, StatusBadImplementation, err)
	}
	in.mr = c
	in.model = runnerModel{c}
	// 2. Health on its own channel, 3. Setup.
	watch := func(f func(context.Context) error) error {
		cctx, ccancel := context.WithCancel(sctx)
		defer ccancel()
		go func() {
			select {
			case <-run.exited:
				ccancel()
			case <-cctx.Done():
			}
		}()
		return f(cctx)
	}
	if err := watch(c.WaitHealthy); err != nil {
		st, _ := classifyCall(ctx, sctx, err, run.exited)
		return startFail(StageHandshake, st, err)
	}
	err = watch(func(cctx context.Context) error { return c.Setup(cctx, rs.BaseClass) })
	if err != nil {
		var se *modelrunner.StatusError
		st := StatusFailed
		switch {
		case errors.As(err, &se) && (se.BadImplementation() || se.Misuse()):
			st = StatusBadImplementation
		case errors.As(err, &se):
			st = StatusFailed
		default:
			st, _ = classifyCall(ctx, sctx, err, run.exited)
		}
		return startFail(StageSetup, st, fmt.Errorf("Setup(%s) in %s: %w", rs.BaseClass, rs.CodeDir, err))
	}
	in.mdesc = wire.ModelDescription{ModelName: spec.ID, Methods: []string{sdk.MethodTick, sdk.MethodPredict}}
	in.log.Debug("python model ready", "pid", run.processID(), "address", target)
	return in, nil
}

// drain copies a child's pipe to w until EOF (the process group is gone).
func drain(r io.Reader, w io.Writer) { _, _ = io.Copy(w, r) }

// lineRing feeds raw stderr bytes to the ring buffer (which appends a
// newline per Write): it splits on newlines first.
type lineRing struct{ r *ringBuffer }

func (l lineRing) Write(p []byte) (int, error) {
	s := strings.TrimRight(string(p), "\n")
	for _, line := range strings.Split(s, "\n") {
		_, _ = l.r.Write([]byte(line))
	}
	return len(p), nil
}

// stopRunner ends a Python model: SIGTERM to its process group (graceful)
// or SIGKILL at once, SIGKILL after killTimeout, then waits (bounded) for
// the reap and removes the private socket directory.
func (in *instance) stopRunner(killTimeout time.Duration, graceful bool) {
	if in.mr != nil {
		_ = in.mr.Close()
	}
	if graceful {
		if pid := in.run.processID(); pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
		select {
		case <-in.run.exited:
		case <-time.After(killTimeout):
		}
	}
	_ = in.run.Kill(context.Background())
	select {
	case <-in.run.exited:
	case <-time.After(killTimeout):
		in.log.Error("python model process not reaped after SIGKILL", "pid", in.run.processID())
	}
	if in.sockDir != "" {
		_ = os.RemoveAll(in.sockDir)
	}
}
