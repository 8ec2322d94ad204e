package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsyscall "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// policy is what the host tells its re-executed self (JSON in EnvPolicy).
type policy struct {
	Exec      string   `json:"exec"`
	Argv      []string `json:"argv"`
	Dir       string   `json:"dir"`
	ReadDirs  []string `json:"read_dirs"`
	ReadFiles []string `json:"read_files"`
	WriteDirs []string `json:"write_dirs"`
	DevFiles  []string `json:"dev_files"`
	Network   bool     `json:"network"`
	// UID/GID to drop to; -1 keeps the node's.
	UID       int      `json:"uid"`
	GID       int      `json:"gid"`
	Rlimits   []rlimit `json:"rlimits"`
	Cgroups   []string `json:"cgroups"` // cgroup.procs files to join
	ParentPID int      `json:"parent_pid"`
	Landlock  bool     `json:"landlock"`
	// SocketFilter installs the seccomp socket filter (AF_UNIX sockets
	// only; seccomp_linux.go).
	SocketFilter bool `json:"socket_filter"`
	// NoDial adds a model's rules to the socket filter: no connect(2),
	// stream sockets only (seccomp_linux.go).
	NoDial bool `json:"no_dial"`
}

type rlimit struct {
	Resource int    `json:"resource"`
	Value    uint64 `json:"value"`
}

// init runs the launcher when the host re-executed this binary for a
// plugin. It runs before any other init of packages that import this one
// and before main or TestMain; on success it never returns.
func init() {
	raw, ok := os.LookupEnv(EnvPolicy)
	if !ok {
		return
	}
	// The main goroutine is locked to the main thread during init; every
	// per-thread change below (no_new_privs, Landlock, credentials) is made
	// on the thread that calls execve, which is all the new program keeps.
	runtime.LockOSThread()
	err := runLauncher(raw)
	fmt.Fprintf(os.Stderr, "coordinator sandbox launcher: %v\n", err)
	os.Exit(LauncherExitCode)
}

func runLauncher(raw string) error {
	var p policy
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return fmt.Errorf("policy in %s: %w", EnvPolicy, err)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvPolicy+"=") {
			env = append(env, kv)
		}
	}
	self := []byte(fmt.Sprint(os.Getpid()))
	for _, f := range p.Cgroups {
		if err := os.WriteFile(f, self, 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", f, err)
		}
	}
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Value, Max: rl.Value}
		if err := unix.Setrlimit(rl.Resource, &lim); err != nil {
			return fmt.Errorf("setrlimit(%d, %d): %w", rl.Resource, rl.Value, err)
		}
	}
	// Opened before the uid drop: the binary's parent directories need not
	// be traversable by the sandbox uid, only the file executable by it.
	fd, err := unix.Open(p.Exec, unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p.Exec, err)
	}
	// An ELF binary is exec'd from the descriptor alone; a script's
	// interpreter opens /dev/fd/N, so that descriptor must stay open.
	magic := make([]byte, 4)
	if n, _ := unix.Pread(fd, magic, 0); n == 4 && string(magic) == "\x7fELF" {
		unix.CloseOnExec(fd)
	}
	if p.Dir != "" {
		if err := unix.Chdir(p.Dir); err != nil {
			return fmt.Errorf("chdir %s: %w", p.Dir, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if p.Landlock {
		if err := restrictLandlock(p); err != nil {
			return err
		}
	}
	if p.SocketFilter {
		if err := installSocketFilter(p.NoDial); err != nil {
			return err
		}
	}
	if p.UID >= 0 {
		if err := dropThread(p.UID, p.GID); err != nil {
			return err
		}
		// A credential change clears the parent-death signal.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
		}
		if p.ParentPID > 0 && os.Getppid() != p.ParentPID {
			return fmt.Errorf("the node (pid %d) exited during the launch", p.ParentPID)
		}
	}
	return execveat(fd, p.Argv, env)
}

// restrictLandlock enforces the policy's ruleset on the calling thread
// (best effort: the kernel's ABI decides what is enforced; Probe reports
// it).
func restrictLandlock(p policy) error {
	cfg := landlock.V11
	if p.Network {
		cfg.HandledAccessNet = 0
	}
	rules := []landlock.Rule{
		landlock.RODirs(p.ReadDirs...).IgnoreIfMissing(),
		landlock.ROFiles(p.ReadFiles...).IgnoreIfMissing(),
		landlock.RWDirs(p.WriteDirs...).WithResolveUnix(),
		landlock.RWFiles(p.DevFiles...).IgnoreIfMissing(),
	}
	fd, flags, err := cfg.BestEffort().NewRulesetFD(rules...)
	if err != nil {
		return fmt.Errorf("landlock ruleset: %w", err)
	}
	if fd < 0 {
		return nil // no Landlock on this kernel: Probe reports it
	}
	defer unix.Close(fd)
	if err := llsyscall.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	return nil
}

// dropThread sets the calling thread's groups, gid and uid (raw syscalls:
// per thread, unlike syscall.Setuid, which is what execve keeps).
func dropThread(uid, gid int) error {
	if _, _, e := syscall.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups(): %w", e)
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid(%d): %w", gid, e)
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid(%d): %w", uid, e)
	}
	if r, _, _ := syscall.RawSyscall(unix.SYS_GETEUID, 0, 0, 0); int(r) != uid {
		return fmt.Errorf("uid drop to %d did not take (euid %d)", uid, r)
	}
	return nil
}

// execveat execs the program open at fd (AT_EMPTY_PATH) from the calling
// thread.
func execveat(fd int, argv, env []string) error {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	empty := []byte{0}
	_, _, e := syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	runtime.KeepAlive(argvp)
	runtime.KeepAlive(envp)
	runtime.KeepAlive(empty)
	return fmt.Errorf("execveat %s: %w", argv[0], e)
}
