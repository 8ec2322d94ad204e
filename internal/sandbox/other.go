//go:build !linux

package sandbox

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// Box runs a plugin directly: outside Linux there is no sandbox (Probe
// reports it).
type Box struct {
	Dir, Scratch string
	plugin       Plugin
	// Unset is always empty (no limit is attempted).
	Unset []error
}

// Prepare returns a box that runs the plugin directly.
func Prepare(c Config, p Plugin) (*Box, error) { return &Box{plugin: p}, nil }

// Path returns orig.
func (b *Box) Path(orig string) string { return orig }

// SocketGroup is "".
func (b *Box) SocketGroup() string { return "" }

// SetArgs replaces the plugin's arguments.
func (b *Box) SetArgs(args []string) { b.plugin.Args = args }

// AddWriteDir does nothing.
func (b *Box) AddWriteDir(string) {}

// Command runs the plugin directly.
func (b *Box) Command(env []string) (*exec.Cmd, error) {
	cmd := exec.Command(b.plugin.Exec, b.plugin.Args...)
	cmd.Env = env
	cmd.Dir = b.plugin.Dir
	return cmd, nil
}

// LimitHit is "".
func (b *Box) LimitHit(syscall.WaitStatus) string { return "" }

// Close does nothing.
func (b *Box) Close() {}

// Probe reports that nothing is enforced outside Linux.
func Probe(c Config) Report {
	return Report{OS: runtime.GOOS, UID: os.Geteuid(), GID: os.Getegid(),
		Missing: []string{"everything (not Linux): plugins run unsandboxed as the node's user with the node's limits"}}
}

// HardenHost does nothing outside Linux.
func HardenHost() error { return nil }
