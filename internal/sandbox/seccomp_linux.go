package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The socket filter is a seccomp program the launcher installs on a plugin
// without network (every model; the challenge unless
// CHALLENGE_ALLOW_NETWORK): socket(2) and socketpair(2) fail with EPERM for
// every address family but AF_UNIX, and io_uring_setup(2) fails with EPERM
// (io_uring's IORING_OP_SOCKET would create sockets without socket(2)).
// Landlock rules TCP connect and bind only; the filter also closes UDP
// (exfiltration, or collusion with another participant), raw IP, packet,
// netlink and every other family. go-plugin and the Python model runner
// talk to the host over Unix sockets (go-plugin's socket directory, the
// runner's --listen unix:), which stay allowed. A syscall of another
// architecture than the node's (x86's int 0x80, x32) fails with EPERM too,
// so the family check cannot be bypassed through socketcall(2).
//
// A model's filter (noDial) also closes the Unix sockets that reach out:
// connect(2) fails with EPERM, and socket(2)/socketpair(2) create only
// SOCK_STREAM sockets (a datagram socket could sendto(2) a named socket
// without connecting). A model plugin only listens: the host dials it
// (go-plugin's socket, the runner's --listen), and it serves no broker
// service, so it never connects. Without this a model could reach any
// world-writable named socket of the machine (a host daemon's, or another
// participant's listener); abstract sockets are closed by Landlock's
// scoping (ABI >= 6). The challenge keeps connect(2): its plugin dials the
// host's host-data service over go-plugin's broker.
//
// Sources: seccomp_data and the return values in
// Documentation/userspace-api/seccomp_filter.rst and
// include/uapi/linux/seccomp.h; the syscall numbers and AUDIT_ARCH_* of
// golang.org/x/sys/unix.

// socketFilterArch is this build's audit architecture, 0 where the filter
// is not implemented (Probe reports it).
var socketFilterArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}[runtime.GOARCH]

// x32SyscallBit marks the x32 ABI's syscall numbers on x86-64.
const x32SyscallBit = 0x40000000

// seccomp_data offsets (little-endian: the low 32 bits of args[0] come
// first; both supported architectures are little-endian).
const (
	seccompNrOff   = 0
	seccompArchOff = 4
	seccompArg0Off = 16
	seccompArg1Off = 24
)

// sockTypeMask keeps the socket type of socket(2)'s type argument, without
// SOCK_NONBLOCK and SOCK_CLOEXEC (linux/net.h SOCK_TYPE_MASK).
const sockTypeMask = 0xf

// socketFilterProgram is the filter as classic BPF; noDial adds a model's
// rules (no connect(2), SOCK_STREAM only).
func socketFilterProgram(noDial bool) []bpf.Instruction {
	allow := bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	deny := bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	// connect(2) jumps to deny (15) for a model, to allow (8) otherwise; an
	// AF_UNIX socket goes on to the type check (11) for a model, to allow
	// (14) otherwise.
	connectSkip, typeSkip := uint8(7), uint8(0)
	if !noDial {
		connectSkip, typeSkip = 0, 3
	}
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: seccompArchOff, Size: 4},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: socketFilterArch, SkipTrue: 13}, // → deny
		/* 2 */ bpf.LoadAbsolute{Off: seccompNrOff, Size: 4},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipTrue: 11}, // → deny
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SOCKET, SkipTrue: 4}, // → family
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SOCKETPAIR, SkipTrue: 3}, // → family
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_IO_URING_SETUP, SkipTrue: 8}, // → deny
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CONNECT, SkipTrue: connectSkip}, // → deny (model) / allow
		/* 8 */ allow,
		/* 9 family */ bpf.LoadAbsolute{Off: seccompArg0Off, Size: 4},
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipTrue: typeSkip, SkipFalse: 4}, // → type (model) / allow; else → deny
		/* 11 type */ bpf.LoadAbsolute{Off: seccompArg1Off, Size: 4},
		/* 12 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: sockTypeMask},
		/* 13 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SOCK_STREAM, SkipFalse: 1}, // else → deny
		/* 14 */ allow,
		/* 15 deny */ deny,
	}
}

// errNoSocketFilter: this machine cannot install the socket filter.
var errNoSocketFilter = errors.New("seccomp socket filter unavailable")

// socketFilterAvailable says whether the filter can be installed here: an
// implemented architecture and a kernel with seccomp filters that can
// return an errno (seccomp(SECCOMP_GET_ACTION_AVAIL), Linux >= 4.14).
func socketFilterAvailable() error {
	if socketFilterArch == 0 {
		return fmt.Errorf("%w: not implemented for %s", errNoSocketFilter, runtime.GOARCH)
	}
	act := uint32(unix.SECCOMP_RET_ERRNO)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&act))); e != 0 {
		return fmt.Errorf("%w: seccomp(SECCOMP_GET_ACTION_AVAIL): %w", errNoSocketFilter, e)
	}
	return nil
}

// installSocketFilter installs the filter (a model's with noDial) on the
// calling thread (the one that execs the plugin; no_new_privs must be set).
// Without seccomp on this machine it does nothing (Probe reports it).
func installSocketFilter(noDial bool) error {
	if socketFilterAvailable() != nil {
		return nil
	}
	raw, err := bpf.Assemble(socketFilterProgram(noDial))
	if err != nil {
		return fmt.Errorf("seccomp socket filter: %w", err)
	}
	filters := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filters[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp socket filter: prctl(PR_SET_SECCOMP): %w", err)
	}
	runtime.KeepAlive(filters)
	return nil
}
