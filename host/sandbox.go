package host

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// hardenOnce makes the host non-dumpable before its first plugin starts.
var hardenOnce sync.Once

// prepareBox makes the sandbox of one plugin launch (Options.Sandbox;
// package sandbox says what it enforces). The first sandboxed launch also
// makes the host process non-dumpable, so no process of its user can read
// its environment or memory.
func prepareBox(opts Options, p sandbox.Plugin, log hclog.Logger) (*sandbox.Box, error) {
	if !opts.Sandbox.Disabled {
		hardenOnce.Do(func() {
			if err := sandbox.HardenHost(); err != nil {
				log.Warn("the host process stays dumpable: processes of its user can read its environment", "error", err)
			}
		})
	}
	box, err := sandbox.Prepare(opts.Sandbox, p)
	if err != nil {
		if errors.Is(err, sandbox.ErrSetup) {
			return nil, fmt.Errorf("%w: %w", ErrNodeSide, err)
		}
		return nil, err
	}
	for _, e := range box.Unset {
		log.Warn("sandbox limit not set: the plugin runs without it (REQUIRE_SANDBOX=true refuses to run it instead)", "plugin", p.ID, "error", e)
	}
	return box, nil
}

// socketConfig puts go-plugin's socket directory in the plugin's box and,
// when the plugin runs as the sandbox uid, gives it the sandbox gid so the
// plugin can listen there and reach the host's broker socket.
func socketConfig(box *sandbox.Box) *plugin.UnixSocketConfig {
	if box.Dir == "" {
		return nil
	}
	return &plugin.UnixSocketConfig{TempDir: box.Dir, Group: box.SocketGroup()}
}

// limitHit names the sandbox limit that ended the instance's process, ""
// when none did.
func (in *instance) limitHit() string {
	if in.run == nil {
		return ""
	}
	return in.run.limitHit()
}

// ErrLimitExceeded: a sandbox limit ended the plugin process; the error
// names it ("memory limit 512 MiB exceeded").
var ErrLimitExceeded = errors.New("sandbox limit")

// exitCause is the error of a plugin process that exited by itself: its
// exit status and the sandbox limit that ended it, if one did.
func exitCause(in *instance) error {
	if lim := in.limitHit(); lim != "" {
		return fmt.Errorf("%w (%s): %w: %s", ErrPluginExited, in.run.exitState(), ErrLimitExceeded, lim)
	}
	return fmt.Errorf("%w (%s)", ErrPluginExited, in.run.exitState())
}

// crashReapWait bounds how long a call that ended CRASHED waits for the
// process to be reaped, so the exit and the limit that caused it can be
// named.
const crashReapWait = 500 * time.Millisecond

// withExit adds to err of a CRASHED call how the process ended: the
// sandbox limit that ended it, or its own exit ("plugin process exited
// (exit status 3)": ErrPluginExited), waiting briefly for the reap (the
// RPC often fails before the kernel's exit is seen). A process the host
// killed (a restart, a stop) adds nothing.
func withExit(in *instance, err error) error {
	if in.run == nil {
		return err
	}
	select {
	case <-in.run.exited:
	case <-time.After(crashReapWait):
		return err
	}
	if lim := in.limitHit(); lim != "" {
		return fmt.Errorf("%w: %s: %w", ErrLimitExceeded, lim, err)
	}
	if how := in.run.ownExit(); how != "" && !errors.Is(err, ErrPluginExited) {
		return fmt.Errorf("%w (%s): %w", ErrPluginExited, how, err)
	}
	return err
}
