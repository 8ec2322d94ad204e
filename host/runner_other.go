//go:build unix && !linux

package host

import (
	"syscall"
)

// procAttr puts the plugin in its own process group. Pdeathsig does not
// exist outside Linux: there the SDK's parent watchdog is the only guard
// against orphans when the host is SIGKILLed.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// forkAndWait starts r.cmd, reports the start error on started, waits for the
// child, then SIGKILLs what is left of its process group. Without waitid
// WNOWAIT the group id could in theory be reused between reap and kill; the
// window is microseconds and only on non-Linux hosts.
func (r *procRunner) forkAndWait(started chan<- error) {
	if err := r.cmd.Start(); err != nil {
		started <- err
		return
	}
	pid := r.cmd.Process.Pid
	r.mu.Lock()
	r.pid = pid
	r.mu.Unlock()
	started <- nil
	werr := r.cmd.Wait()
	r.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	r.recordExit(werr)
	r.mu.Unlock()
	close(r.exited)
	r.box.Close() // its cgroups and directory, once the exit is recorded
}
