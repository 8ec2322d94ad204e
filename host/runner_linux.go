//go:build linux

package host

import (
	"errors"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// procAttr puts the plugin in its own process group (so a kill reaches its
// grandchildren) and asks the kernel to SIGKILL it when the forking thread
// dies (Pdeathsig). The fork happens on a goroutine locked to its OS thread
// that lives as long as the child (golang/go#27505), see forkAndWait.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// forkAndWait starts r.cmd on a goroutine locked to its OS thread, reports the
// start error on started, then waits for the child to exit without reaping it
// (waitid WNOWAIT, so its pid, which is also the process-group id, stays
// reserved), SIGKILLs the rest of the group (grandchildren holding the pipes),
// and finally reaps the child. The goroutine never unlocks its thread, so the
// thread dies with it, after the child is gone: Pdeathsig fires only if the
// whole host dies first.
func (r *procRunner) forkAndWait(started chan<- error) {
	runtime.LockOSThread()
	if err := r.cmd.Start(); err != nil {
		started <- err
		return
	}
	pid := r.cmd.Process.Pid
	r.mu.Lock()
	r.pid = pid
	r.mu.Unlock()
	started <- nil

	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil || !errors.Is(err, unix.EINTR) {
			break
		}
	}
	r.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL) // leader is a zombie: the pgid cannot be reused yet
	werr := r.cmd.Wait()
	r.recordExit(werr)
	r.mu.Unlock()
	close(r.exited)
	r.box.Close() // its cgroups and directory, once the exit is recorded
}
