// Package sandbox contains every plugin process the host starts (Go model
// and challenge plugins, Python model runners): participants' code is
// untrusted (issue #12).
//
// The host does not exec a plugin directly. It re-executes its own binary
// (/proc/self/exe) with the policy in the environment variable EnvPolicy;
// this package's init function sees the variable before any other code of
// the binary runs, applies the policy and execs the plugin, so the
// restrictions hold from the plugin's first instruction (they survive
// execve). Every binary that links package host therefore works as the
// launcher, test binaries included.
//
// On Linux the launcher, in this order: joins the plugin's own memory,
// pids and cpu cgroups (when the node may create them), sets rlimits (memory when
// no memory cgroup, open files, file size, processes when no pids cgroup
// and the uid is dropped), enters the working directory, sets no_new_privs,
// enforces a Landlock ruleset (read+execute of the system directories and
// of the plugin's own files, write of its scratch directory only, no TCP
// connect/bind unless allowed, no signals or abstract sockets to processes
// outside its domain), installs a seccomp filter that allows Unix sockets
// only unless network is allowed (seccomp_linux.go), drops to an unprivileged uid/gid when the node runs
// as root, and execs the plugin from a file descriptor opened before the
// drop. Probe says which of these this machine enforces.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// EnvPolicy carries the launcher's policy (JSON) from the host to its
// re-executed self. The launcher removes it before exec.
const EnvPolicy = "COORDINATOR_SANDBOX_POLICY"

// ErrSetup: the node could not set up a plugin's sandbox (its box
// directory, a cgroup or one of its limits): a failure of the node, not of
// the plugin. Prepare's errors wrap it when it applies.
var ErrSetup = errors.New("the node could not set up the plugin sandbox")

// LauncherExitCode is the exit status of a launcher that could not apply
// its policy: the plugin never ran. Its stderr says why.
const LauncherExitCode = 125

// Defaults of Config (a pack or .local.env changes them, see
// internal/config).
const (
	DefaultUID           = 65534 // nobody
	DefaultGID           = 65534 // nogroup
	DefaultMemoryBytes   = 1 << 30
	DefaultProcesses     = 256
	DefaultOpenFiles     = 1024
	DefaultFileSizeBytes = 256 << 20
	DefaultMaxCopyBytes  = 256 << 20
	// DefaultCPUMillicores is one CPU per model: a model that keeps every
	// core busy cannot make its neighbours' calls time out (issue: CPU
	// starvation as a strategy), and an honest model still gets a whole
	// core for its call.
	DefaultCPUMillicores = 1000
	// DefaultChallengeCPUMillicores is no limit (negative): see
	// Config.ChallengeCPUMillicores.
	DefaultChallengeCPUMillicores = -1
)

// CPUPeriodMicros is the cpu cgroup's enforcement period (v1
// cpu.cfs_period_us, the second field of v2 cpu.max), microseconds: in
// each 100 ms a plugin limited to N millicores runs at most N*100 µs of
// CPU time over all its threads, then waits for the next period. 100 ms is
// the kernel's default period.
const CPUPeriodMicros = 100_000

// MinCPUMillicores is the smallest CPU limit: the kernel refuses a quota
// below 1 ms per period (10 millicores of a 100 ms period).
const MinCPUMillicores = 10

// Limits bound one plugin process (and everything it starts).
//
//   - MemoryBytes: a memory cgroup limit (memory+swap) when the node may
//     create one; otherwise RLIMIT_DATA. The cgroup's OOM kill is reported
//     as "memory limit N MiB exceeded".
//   - Processes: processes and threads, a pids cgroup limit; without one,
//     RLIMIT_NPROC, which counts per uid (all plugins share the sandbox uid)
//     and is only set when the uid is dropped.
//   - OpenFiles: RLIMIT_NOFILE.
//   - FileSizeBytes: RLIMIT_FSIZE, the largest file the plugin may write.
//   - CPUMillicores: CPU time per wall time of a model, in thousandths of
//     one CPU (1000: one CPU, 250: a quarter), over all its processes and
//     threads: a cpu cgroup quota (v1 cpu.cfs_quota_us over
//     cpu.cfs_period_us, v2 cpu.max; period CPUPeriodMicros). A plugin at
//     its quota is throttled, not killed. Without a cpu cgroup there is no
//     bound (RLIMIT_CPU bounds total CPU seconds and would kill a
//     long-running plugin). The challenge has its own limit
//     (Config.ChallengeCPUMillicores).
//
// Zero means the default; a negative value means no limit (the one
// convention of every limit here, Config.ChallengeCPUMillicores included;
// the settings' "0: no limit" is stored as -1 by internal/config).
type Limits struct {
	MemoryBytes   int64
	Processes     int
	OpenFiles     int
	FileSizeBytes int64
	CPUMillicores int
}

// Config is the node's sandbox setting. The zero value is the default:
// sandbox on, uid 65534 when root, default limits.
//
//   - Disabled turns the sandbox off (benchmarks comparing with and without;
//     never set from a setting).
//   - Require makes a missing mechanism an error instead of a warning
//     (REQUIRE_SANDBOX=true, --require-sandbox).
//   - UID/GID: the unprivileged user plugins run as when the node runs as
//     root (0: DefaultUID/DefaultGID).
//   - Root is the directory holding each plugin's box (scratch and copies);
//     "" means os.TempDir(). Its parents must be traversable by UID.
//   - ChallengeNetwork lets the challenge plugin open TCP connections
//     (CHALLENGE_ALLOW_NETWORK); models never may.
//   - MaxCopyBytes bounds what is copied into a box for a dropped uid (a
//     Python model's directory, the model runner, the challenge's Python
//     files) (0: DefaultMaxCopyBytes).
//   - ChallengeCPUMillicores is the challenge plugin's CPU limit
//     (CHALLENGE_CPU_MILLICORES), with Limits' convention: 0 is the
//     default (DefaultChallengeCPUMillicores: no limit), negative no
//     limit. The challenge is the competition's own code
//     (pinned by CHALLENGE_SHA256), one process whose calls (inference
//     input, scoring, leaderboard) the node waits for: a quota would only
//     slow the node, and it competes with no one for a prize.
type Config struct {
	Disabled               bool
	Require                bool
	UID, GID               int
	Limits                 Limits
	Root                   string
	MaxCopyBytes           int64
	ChallengeNetwork       bool
	ChallengeCPUMillicores int
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.UID == 0 {
		c.UID = DefaultUID
	}
	if c.GID == 0 {
		c.GID = DefaultGID
	}
	if c.Limits.MemoryBytes == 0 {
		c.Limits.MemoryBytes = DefaultMemoryBytes
	}
	if c.Limits.Processes == 0 {
		c.Limits.Processes = DefaultProcesses
	}
	if c.Limits.OpenFiles == 0 {
		c.Limits.OpenFiles = DefaultOpenFiles
	}
	if c.Limits.FileSizeBytes == 0 {
		c.Limits.FileSizeBytes = DefaultFileSizeBytes
	}
	if c.Limits.CPUMillicores == 0 {
		c.Limits.CPUMillicores = DefaultCPUMillicores
	}
	if c.ChallengeCPUMillicores == 0 {
		c.ChallengeCPUMillicores = DefaultChallengeCPUMillicores
	}
	if c.MaxCopyBytes <= 0 {
		c.MaxCopyBytes = DefaultMaxCopyBytes
	}
	if c.Root == "" {
		c.Root = os.TempDir()
	}
	return c
}

// Plugin says what one plugin process needs.
//
//   - ID names it (model id or "challenge") in box and cgroup names.
//   - Exec is the program (a plugin binary or the Python interpreter);
//     Args its arguments (without argv[0]).
//   - ReadDirs are directories it reads (a Python model's code, the model
//     runner package). When the uid is dropped they are copied into the box
//     (Box.Path gives the copy); otherwise they are granted in place.
//   - ExtraWriteDirs are directories it may also create files and sockets
//     in (go-plugin's socket directory).
//   - Network allows TCP connect and bind (the challenge, when a pack
//     allows it explicitly); models never get it.
//   - Challenge: the competition's challenge plugin, whose CPU limit is
//     Config.ChallengeCPUMillicores (models': Limits.CPUMillicores).
//   - Interpreter: Exec is an interpreter (Python) whose installation
//     prefix (<prefix>/bin/python3 → <prefix>, e.g. pyenv's) it must read.
//   - Dir is the working directory, one of ReadDirs or "" (the scratch
//     directory).
type Plugin struct {
	ID             string
	Exec           string
	Args           []string
	ReadDirs       []string
	ExtraWriteDirs []string
	Network        bool
	Challenge      bool
	Interpreter    bool
	Dir            string
}

// Report says what the sandbox enforces on this machine.
type Report struct {
	// OS is runtime.GOOS.
	OS string
	// LandlockABI is the kernel's Landlock ABI version, 0 when missing.
	LandlockABI int
	// Filesystem: Landlock filesystem rules (ABI >= 1).
	Filesystem bool
	// Network: Landlock TCP connect/bind rules (ABI >= 4).
	Network bool
	// Scoped: Landlock signal and abstract-socket scoping (ABI >= 6).
	Scoped bool
	// SocketFilter: the seccomp socket filter (models, and the challenge
	// without CHALLENGE_ALLOW_NETWORK, may create AF_UNIX sockets only: no
	// UDP, TCP, raw, packet or netlink socket, no io_uring; models may not
	// connect(2) and create stream sockets only).
	SocketFilter bool
	// NoNewPrivs: prctl(PR_SET_NO_NEW_PRIVS) (Linux).
	NoNewPrivs bool
	// DropUID: the node runs as root and plugins run as UID/GID.
	DropUID bool
	// UID/GID the plugins run as (the node's own when not dropped).
	UID, GID int
	// Rlimits: open files, file size (and memory/processes as fallbacks).
	Rlimits bool
	// MemoryCgroup / PidsCgroup / CPUCgroup: "v1" or "v2" when the node
	// may create per-plugin cgroups of that controller, "" otherwise.
	MemoryCgroup, PidsCgroup, CPUCgroup string
	// CPUMillicores / ChallengeCPUMillicores: the CPU limit of each model
	// and of the challenge, thousandths of a CPU; <= 0: none.
	CPUMillicores, ChallengeCPUMillicores int
	// Missing names each mechanism that is not enforced, with the reason.
	Missing []string
}

// Enforced lists the mechanisms in force, for doctor and the start log.
func (r Report) Enforced() []string {
	var out []string
	if r.Filesystem {
		out = append(out, fmt.Sprintf("landlock filesystem (ABI %d)", r.LandlockABI))
	}
	if r.Network {
		out = append(out, "landlock network (no TCP connect/bind for models)")
	}
	if r.Scoped {
		out = append(out, "landlock signal/abstract-socket scoping")
	}
	if r.SocketFilter {
		out = append(out, "seccomp socket filter (Go and Python models, and the challenge without CHALLENGE_ALLOW_NETWORK: Unix sockets only, no UDP/TCP/raw/packet/netlink socket, no io_uring; models: no connect(2), stream sockets only)")
	}
	if r.NoNewPrivs {
		out = append(out, "no_new_privs")
	}
	if r.DropUID {
		out = append(out, fmt.Sprintf("plugins run as uid %d gid %d", r.UID, r.GID))
	}
	if r.Rlimits {
		out = append(out, "rlimits (open files, file size)")
	}
	if r.MemoryCgroup != "" {
		out = append(out, "memory cgroup "+r.MemoryCgroup)
	}
	if r.PidsCgroup != "" {
		out = append(out, "pids cgroup "+r.PidsCgroup)
	}
	if r.CPUCgroup != "" {
		out = append(out, fmt.Sprintf("cpu cgroup %s (models %s each, challenge %s)", r.CPUCgroup,
			CPULimit(r.CPUMillicores), CPULimit(r.ChallengeCPUMillicores)))
	}
	return out
}

// Warning is the one loud line naming what is not enforced, "" when
// everything is.
func (r Report) Warning() string {
	if len(r.Missing) == 0 {
		return ""
	}
	return "plugin sandbox incomplete: NOT enforced: " + strings.Join(r.Missing, "; ") +
		" (participants' code can do more than the security model in README says; set REQUIRE_SANDBOX=true to refuse to start instead)"
}

// Check returns an error naming what is missing when c.Require is set and
// something is, nil otherwise.
func (c Config) Check(r Report) error {
	if c.Disabled {
		if c.Require {
			return fmt.Errorf("the plugin sandbox is required (REQUIRE_SANDBOX) but disabled")
		}
		return nil
	}
	if c.Require && len(r.Missing) > 0 {
		return fmt.Errorf("the plugin sandbox is required (REQUIRE_SANDBOX=true) but this machine does not enforce: %s", strings.Join(r.Missing, "; "))
	}
	return nil
}

// CPULimit renders a CPU limit in millicores as "1000 millicores (1 CPU)",
// or "unlimited" when <= 0.
func CPULimit(m int) string {
	if m <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d millicores (%g CPU)", m, float64(m)/1000)
}

// MiB renders a byte count as "512 MiB" (or bytes when not whole MiB).
func MiB(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
