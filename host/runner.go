//go:build unix

package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// hostEnvAllowlist names the host environment variables a plugin inherits.
// Everything else (database URLs, API keys) stays in the host: the plugin
// gets these, then PluginSpec.Env, then go-plugin's handshake variables.
var hostEnvAllowlist = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "USER", "GOCOVERDIR"}

// procRunner is the go-plugin runner.Runner used for every plugin process
// (ClientConfig.RunnerFunc). Compared with go-plugin's own cmdrunner it puts
// the child in its own process group and kills the whole group, sets
// Pdeathsig (Linux) from a goroutine locked to its OS thread for the child's
// whole life, leaves stdin closed, records the child's exit status, records
// the first stdout line (the handshake, or the noise that broke it), and
// reaps the child itself so grandchildren holding the pipes cannot stall the
// teardown.
type procRunner struct {
	cmd    *exec.Cmd
	path   string
	box    *sandbox.Box
	stdout *pipeReader
	stderr *pipeReader
	outW   *os.File
	errW   *os.File

	mu         sync.Mutex
	pid        int
	reaped     bool
	hostKilled bool
	waitErr    error
	state      *os.ProcessState
	exited     chan struct{}
	// limit names the sandbox limit that ended the process (set at reap).
	limit string
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner builds the runner for spec, launched through box (the
// plugin sandbox; box.Command re-executes the node as the launcher, or runs
// the plugin directly when the sandbox is disabled). pluginCmd is the
// command go-plugin prepared; only its Env (handshake variables, client
// cert, socket dir) is used. The runner owns box from here: it closes it
// after the reap (or at a failed start); on error the caller still owns it.
func newProcRunner(spec PluginSpec, pluginCmd *exec.Cmd, box *sandbox.Box) (*procRunner, error) {
	env := make([]string, 0, len(hostEnvAllowlist)+len(spec.Env)+len(pluginCmd.Env))
	for _, k := range hostEnvAllowlist {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, spec.Env...)
	env = append(env, pluginCmd.Env...) // last wins: go-plugin's variables cannot be overridden
	cmd, err := box.Command(env)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: sandbox: %w", spec.Path, err)
	}
	cmd.Stdin = nil
	cmd.SysProcAttr = procAttr()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: create stdout pipe: %w", spec.Path, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, fmt.Errorf("plugin %s: create stderr pipe: %w", spec.Path, err)
	}
	cmd.Stdout = outW
	cmd.Stderr = errW
	return &procRunner{
		cmd:    cmd,
		path:   spec.Path,
		box:    box,
		stdout: &pipeReader{f: outR, recordFirstLine: true},
		stderr: &pipeReader{f: errR},
		outW:   outW,
		errW:   errW,
		exited: make(chan struct{}),
	}, nil
}

// Start forks the plugin. ctx is not used: the fork itself does not block.
func (r *procRunner) Start(_ context.Context) error {
	started := make(chan error, 1)
	go r.forkAndWait(started)
	err := <-started
	// The child holds its own copies of the write ends; ours must go so the
	// readers see EOF when the process group is gone.
	_ = r.outW.Close()
	_ = r.errW.Close()
	if err != nil {
		_ = r.stdout.f.Close()
		_ = r.stderr.f.Close()
		r.box.Close()
		close(r.exited)
		return fmt.Errorf("start plugin %s: %w", r.path, err)
	}
	return nil
}

// Wait blocks until the plugin process has exited and been reaped, or ctx ends.
func (r *procRunner) Wait(ctx context.Context) error {
	select {
	case <-r.exited:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill sends SIGKILL to the plugin's whole process group. It does not wait;
// Wait and the exited channel report the end. Calling it again, or after the
// process was reaped, does nothing.
func (r *procRunner) Kill(_ context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 || r.reaped {
		return nil
	}
	r.hostKilled = true
	if err := syscall.Kill(-r.pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("kill plugin %s process group %d: %w", r.path, r.pid, err)
	}
	return nil
}

// Stdout is the handshake channel read by go-plugin.
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }

// Stderr is the plugin's raw stderr, parsed by go-plugin into host log lines.
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }

// Name is the plugin binary's path.
func (r *procRunner) Name() string { return r.path }

// ID is the plugin's pid (also its process-group id), "" before Start.
func (r *procRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Diagnose returns notes go-plugin appends to a failed handshake.
func (r *procRunner) Diagnose(_ context.Context) string {
	notes := "Plugin path: " + r.path
	if fi, err := os.Stat(r.path); err == nil {
		notes += fmt.Sprintf("\nMode: %s, size %d bytes", fi.Mode(), fi.Size())
	}
	if st := r.exitState(); st != "" {
		notes += "\nProcess: " + st
	}
	return notes
}

// PluginToHost returns the plugin's address unchanged (same host, same fs).
func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }

// HostToPlugin returns the host's address unchanged.
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// exitState describes how the process ended ("exit status 3", "signal:
// killed"), or "" while it runs.
func (r *procRunner) exitState() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		return ""
	}
	return r.state.String()
}

// ownExit describes how the process ended ("exit status 3", "signal:
// segmentation fault") when it ended by itself: an exit, or a signal the
// host did not send; "" while it runs or after the host's kill.
func (r *procRunner) ownExit() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		return ""
	}
	if ws, ok := r.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && r.hostKilled {
		return ""
	}
	return r.state.String()
}

// exitedAbnormally reports whether the process ended on its own with a
// signal (a runtime crash or OOM kill) rather than by the host's kill.
func (r *procRunner) exitedBySignal() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil || r.hostKilled {
		return false
	}
	ws, ok := r.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// limitHit names the sandbox limit that ended the process ("memory limit
// 512 MiB exceeded"), "" when none did or while it runs.
func (r *procRunner) limitHit() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limit
}

// recordExit records the exit of the reaped child and the sandbox limit
// that ended it (from the box's facts, before the box is closed). Called
// with r.mu held.
func (r *procRunner) recordExit(werr error) {
	r.reaped = true
	r.waitErr = werr
	r.state = r.cmd.ProcessState
	if ws, ok := r.state.Sys().(syscall.WaitStatus); ok {
		// After the host's own kill only the OOM killer's count can still
		// be the cause.
		if lim := r.box.LimitHit(ws); !r.hostKilled || strings.HasPrefix(lim, "memory") {
			r.limit = lim
		}
	}
}

// pid returns the process id, 0 before Start.
func (r *procRunner) processID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// pipeReader reads one end of a plugin pipe. It closes the file at EOF (the
// last writer in the process group is gone) and can remember the first line.
type pipeReader struct {
	f               *os.File
	recordFirstLine bool

	mu        sync.Mutex
	first     []byte
	firstDone bool
	closed    bool
}

const firstLineMax = 1024

func (p *pipeReader) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	if p.recordFirstLine && n > 0 {
		p.mu.Lock()
		if !p.firstDone {
			chunk := b[:n]
			if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
				chunk = chunk[:i]
				p.firstDone = true
			}
			room := firstLineMax - len(p.first)
			if len(chunk) > room {
				chunk = chunk[:room]
				p.firstDone = true
			}
			p.first = append(p.first, chunk...)
		}
		p.mu.Unlock()
	}
	if err != nil {
		_ = p.Close()
	}
	return n, err
}

// Close closes the read end once.
func (p *pipeReader) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.f.Close()
}

// firstLine returns the first stdout line seen (without newline), "" if none.
func (p *pipeReader) firstLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(bytes.TrimSpace(p.first))
}
