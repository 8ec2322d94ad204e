package sandbox

import (
	"fmt"
	"os"
	"runtime"

	llsyscall "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Probe says what the sandbox enforces on this machine for c: the
// kernel's Landlock ABI, the uid drop, the cgroups the node may create
// (memory, pids, cpu) and the limits it sets.
func Probe(c Config) Report {
	c = c.WithDefaults()
	r := Report{OS: runtime.GOOS, NoNewPrivs: true, Rlimits: true, UID: os.Geteuid(), GID: os.Getegid()}
	if c.Disabled {
		r.NoNewPrivs, r.Rlimits = false, false
		r.Missing = []string{"everything: the sandbox is disabled"}
		return r
	}
	abi, err := llsyscall.LandlockGetABIVersion()
	if err != nil {
		abi = 0
	}
	r.LandlockABI = abi
	r.Filesystem, r.Network, r.Scoped = abi >= 1, abi >= 4, abi >= 6
	if os.Geteuid() == 0 {
		r.DropUID, r.UID, r.GID = true, c.UID, c.GID
	}
	h := hierarchies()
	mem, pids := h.mem, h.pids
	r.MemoryCgroup, r.PidsCgroup, r.CPUCgroup = mem.version, pids.version, h.cpu.version
	r.CPUMillicores, r.ChallengeCPUMillicores = c.Limits.CPUMillicores, c.ChallengeCPUMillicores
	switch {
	case abi < 1:
		r.Missing = append(r.Missing, fmt.Sprintf("filesystem isolation (the kernel has no Landlock: %v): plugins can read and write every file the node's user can", err))
	case abi < 4:
		r.Missing = append(r.Missing, fmt.Sprintf("network isolation (Landlock ABI %d < 4): models can open TCP connections", abi))
	}
	if abi >= 1 && abi < 6 && r.DropUID {
		r.Missing = append(r.Missing, fmt.Sprintf("signal scoping (Landlock ABI %d < 6): plugins sharing uid %d can signal each other", abi, c.UID))
	}
	if mem.err != nil {
		r.Missing = append(r.Missing, fmt.Sprintf("memory cgroup (%v): memory is bounded by RLIMIT_DATA only and a kill at the limit is not reported as such", mem.err))
	}
	if pids.err != nil {
		if r.DropUID {
			r.Missing = append(r.Missing, fmt.Sprintf("pids cgroup (%v): processes are bounded by RLIMIT_NPROC, shared by all plugins of uid %d", pids.err, c.UID))
		} else {
			r.Missing = append(r.Missing, fmt.Sprintf("process limit (%v, and the node is not root): a plugin can fork without bound", pids.err))
		}
	}
	if err := socketFilterAvailable(); err == nil {
		r.SocketFilter = true
	} else {
		r.Missing = append(r.Missing, fmt.Sprintf("socket filter (%v): models can send UDP datagrams, open raw, packet and netlink sockets and connect to named Unix sockets", err))
	}
	if h.cpu.err != nil && (c.Limits.CPUMillicores > 0 || c.ChallengeCPUMillicores > 0) {
		r.Missing = append(r.Missing, fmt.Sprintf("cpu limit (%v): a model can keep every core busy and make its neighbours' calls time out", h.cpu.err))
	}
	if h.sharesErr != nil {
		r.Missing = append(r.Missing, fmt.Sprintf("%v: all plugins together weigh as one busy thread and their calls can time out under load", h.sharesErr))
	}
	trialLimits(&r, h, c)
	return r
}

// trialLimits makes, in a trial cgroup, the very writes a launch makes
// (newCgroupsIn) for a model's limits and for the challenge's CPU limit,
// and reports each limit the kernel refused as missing (and no longer as
// enforced): e.g. cgroup v1 refuses a CPU quota above the node's own.
func trialLimits(r *Report, h hiers, c Config) {
	trial := func(l Limits, cpu int) (*cgroups, []error) {
		cg, errs := newCgroupsIn(h, "probe", l, cpu)
		cg.remove()
		return cg, errs
	}
	cg, errs := trial(c.Limits, c.Limits.CPUMillicores)
	for _, e := range errs {
		r.Missing = append(r.Missing, fmt.Sprintf("%v: models run without it", e))
	}
	if h.mem.err == nil && c.Limits.MemoryBytes > 0 && cg.memory == "" {
		r.MemoryCgroup = ""
	}
	if h.pids.err == nil && c.Limits.Processes > 0 && cg.pids == "" {
		r.PidsCgroup = ""
	}
	if h.cpu.err == nil && c.Limits.CPUMillicores > 0 && cg.cpu == "" {
		r.CPUMillicores = -1
	}
	if h.cpu.err == nil && c.ChallengeCPUMillicores > 0 {
		if cg, errs := trial(Limits{}, c.ChallengeCPUMillicores); cg.cpu == "" {
			for _, e := range errs {
				r.Missing = append(r.Missing, fmt.Sprintf("challenge %v: the challenge runs without it", e))
			}
			r.ChallengeCPUMillicores = -1
		}
	}
}

// HardenHost makes the calling process non-dumpable (PR_SET_DUMPABLE 0):
// processes of the same user, plugins included, can then neither read its
// /proc/<pid>/environ or memory nor ptrace it. Children reset it at exec.
func HardenHost() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}
