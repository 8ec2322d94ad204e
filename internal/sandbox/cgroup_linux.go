package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cgroupParentName is the directory the node creates under its own cgroup
// (v1: in the memory, pids and cpu hierarchies) to hold one cgroup per plugin
// process. It is shared by the nodes of a machine and left in place.
const cgroupParentName = "coordinator-plugins"

// hierarchy is where per-plugin cgroups of one controller are created.
type hierarchy struct {
	version string // "v1" or "v2"
	parent  string // directory to create plugin cgroups in
	err     error  // why it is unusable
}

// cpuParentShares is the cgroup v1 cpu.shares of the plugins' common
// parent: 1024 (one task's weight, Documentation/scheduler/sched-design-CFS.rst)
// per CPU of the machine, at most maxCPUShares.
var cpuParentShares = min(1024*runtime.NumCPU(), maxCPUShares)

// maxCPUShares is the largest cgroup v1 cpu.shares the kernel accepts
// (MAX_SHARES, 1<<18); a larger write fails with EINVAL.
const maxCPUShares = 1 << 18

// writeLimit writes one cgroup limit file; tests replace it to make a
// limit fail.
var writeLimit = func(file string, v []byte) error { return os.WriteFile(file, v, 0) }

// hiers are the hierarchies of the controllers the sandbox uses;
// sharesErr is why the cpu parent's cpu.shares could not be set.
type hiers struct {
	mem, pids, cpu hierarchy
	sharesErr      error
}

var (
	hierOnce sync.Once
	allHiers hiers
)

// hierarchies finds (once) where this process may create memory, pids and
// cpu cgroups: cgroup v1 controller hierarchies under /sys/fs/cgroup/<ctl>,
// or a cgroup v2 tree whose own cgroup delegates the controller.
func hierarchies() hiers {
	hierOnce.Do(func() {
		allHiers = hiers{mem: findHierarchy("memory"), pids: findHierarchy("pids"), cpu: findHierarchy("cpu")}
		if c := allHiers.cpu; c.err == nil && c.version == "v1" {
			// The plugins' common parent is one scheduling entity beside
			// the node's and the machine's other tasks: with the default
			// 1024 shares, all plugins together would weigh as one busy
			// thread and starve under load (their calls time out). Weigh
			// it as NumCPU busy threads; each plugin inside weighs 1024
			// and is capped by its own quota.
			f := filepath.Join(c.parent, "cpu.shares")
			if err := writeLimit(f, []byte(strconv.Itoa(cpuParentShares))); err != nil {
				allHiers.sharesErr = fmt.Errorf("cpu weight of the plugins' parent cgroup (%d shares): %w", cpuParentShares, err)
			}
		}
	})
	return allHiers
}

func findHierarchy(ctl string) hierarchy {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return hierarchy{err: err}
	}
	var v2path string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2path = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctl {
				return tryParent("v1", filepath.Join("/sys/fs/cgroup", ctl, parts[2], cgroupParentName))
			}
		}
	}
	for _, mnt := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		own := filepath.Join(mnt, v2path)
		sub, err := os.ReadFile(filepath.Join(own, "cgroup.subtree_control"))
		if err != nil {
			continue
		}
		if !containsWord(string(sub), ctl) {
			continue
		}
		return tryParent("v2", own)
	}
	return hierarchy{err: fmt.Errorf("no %s cgroup controller this node may use (cgroup v1 hierarchy, or a delegated cgroup v2 subtree)", ctl)}
}

func tryParent(version, parent string) hierarchy {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return hierarchy{err: fmt.Errorf("create %s: %w", parent, err)}
	}
	probe := filepath.Join(parent, fmt.Sprintf("probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil && !os.IsExist(err) {
		return hierarchy{err: fmt.Errorf("create %s: %w", probe, err)}
	}
	_ = os.Remove(probe)
	return hierarchy{version: version, parent: parent}
}

func containsWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// cgroups are one plugin process's memory, pids and cpu cgroups ("" when
// not available).
type cgroups struct {
	memory, pids, cpu string
	memVer, pidsVer   string
}

// newCgroups creates the plugin's cgroups with their limits (cpuMillicores:
// its CPU limit, <= 0 none). A controller this node may not use is skipped
// (Probe reports it); a limit that could not be set on a usable controller
// is skipped too and returned as an error naming the limit and the cgroup
// file (Prepare fails with it under REQUIRE_SANDBOX, the host logs it
// otherwise; Probe makes the same writes in a trial cgroup).
func newCgroups(id string, l Limits, cpuMillicores int) (*cgroups, []error) {
	return newCgroupsIn(hierarchies(), id, l, cpuMillicores)
}

func newCgroupsIn(h hiers, id string, l Limits, cpuMillicores int) (*cgroups, []error) {
	cg := &cgroups{}
	var errs []error
	name := fmt.Sprintf("%s-%d-%08x", safeName(id), os.Getpid(), rand.Uint32())
	// apply makes the cgroup of one controller and sets its limit; under
	// cgroup v2 the controllers share one directory.
	apply := func(hi hierarchy, limit string, set func(dir string) error) string {
		dir := filepath.Join(hi.parent, name)
		shared := cg.memory == dir || cg.pids == dir || cg.cpu == dir
		if !shared {
			if err := os.Mkdir(dir, 0o755); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", limit, err))
				return ""
			}
		}
		if err := set(dir); err != nil {
			if !shared {
				_ = os.Remove(dir)
			}
			errs = append(errs, fmt.Errorf("%s: %w", limit, err))
			return ""
		}
		return dir
	}
	if h.mem.err == nil && l.MemoryBytes > 0 {
		cg.memory = apply(h.mem, "memory limit "+MiB(l.MemoryBytes), func(dir string) error {
			v := []byte(strconv.FormatInt(l.MemoryBytes, 10))
			if h.mem.version == "v1" {
				// memory+swap: no swapping past the limit (absent without swap accounting)
				defer func() { _ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), v, 0) }()
				return writeLimit(filepath.Join(dir, "memory.limit_in_bytes"), v)
			}
			_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
			return writeLimit(filepath.Join(dir, "memory.max"), v)
		})
		if cg.memory != "" {
			cg.memVer = h.mem.version
		}
	}
	if h.pids.err == nil && l.Processes > 0 {
		cg.pids = apply(h.pids, fmt.Sprintf("process limit %d", l.Processes), func(dir string) error {
			return writeLimit(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(l.Processes)))
		})
		if cg.pids != "" {
			cg.pidsVer = h.pids.version
		}
	}
	if h.cpu.err == nil && cpuMillicores > 0 {
		cg.cpu = apply(h.cpu, "cpu limit "+CPULimit(cpuMillicores), func(dir string) error {
			if err := setCPUQuota(dir, h.cpu.version, cpuMillicores); err != nil {
				if q := ancestorCPUQuota(h.cpu.parent, h.cpu.version); q != "" {
					return fmt.Errorf("%w (the node's own cgroup limits CPU below it: %s; lower PLUGIN_CPU_MILLICORES or CHALLENGE_CPU_MILLICORES, or raise the node's CPU limit)", err, q)
				}
				return err
			}
			return nil
		})
	}
	return cg, errs
}

// setCPUQuota limits the cgroup dir to millicores thousandths of a CPU per
// CPUPeriodMicros: v1 cpu.cfs_period_us then cpu.cfs_quota_us
// (Documentation/scheduler/sched-bwc.rst), v2 cpu.max "quota period"
// (Documentation/admin-guide/cgroup-v2.rst), both in microseconds.
func setCPUQuota(dir, version string, millicores int) error {
	quota := strconv.FormatInt(int64(millicores)*CPUPeriodMicros/1000, 10)
	period := strconv.Itoa(CPUPeriodMicros)
	if version == "v1" {
		if err := writeLimit(filepath.Join(dir, "cpu.cfs_period_us"), []byte(period)); err != nil {
			return err
		}
		return writeLimit(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(quota))
	}
	return writeLimit(filepath.Join(dir, "cpu.max"), []byte(quota+" "+period))
}

// ancestorCPUQuota names the first CPU quota set on dir or one of its
// ancestors in the cpu hierarchy ("<file> = <value>"), "" when none is:
// cgroup v1 refuses a child quota above an ancestor's (EINVAL).
func ancestorCPUQuota(dir, version string) string {
	for d := dir; strings.HasPrefix(d, "/sys/fs/cgroup/"); d = filepath.Dir(d) {
		file := filepath.Join(d, "cpu.max")
		if version == "v1" {
			file = filepath.Join(d, "cpu.cfs_quota_us")
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(raw))
		if v != "-1" && !strings.HasPrefix(v, "max") {
			return file + " = " + v
		}
	}
	return ""
}

// dirs are the cgroup directories, "" for a controller not used.
func (c *cgroups) dirs() []string { return []string{c.memory, c.pids, c.cpu} }

func (c *cgroups) procsFiles() []string {
	var out []string
	for _, d := range c.dirs() {
		if d != "" && !slices.Contains(out, filepath.Join(d, "cgroup.procs")) {
			out = append(out, filepath.Join(d, "cgroup.procs"))
		}
	}
	return out
}

// oomKills is the number of processes the memory cgroup's OOM killer
// ended.
func (c *cgroups) oomKills() int64 {
	if c.memory == "" {
		return 0
	}
	if c.memVer == "v1" {
		return keyValue(filepath.Join(c.memory, "memory.oom_control"), "oom_kill")
	}
	return keyValue(filepath.Join(c.memory, "memory.events"), "oom_kill")
}

// pidsMaxHits is how often a fork failed at pids.max.
func (c *cgroups) pidsMaxHits() int64 {
	if c.pids == "" {
		return 0
	}
	return keyValue(filepath.Join(c.pids, "pids.events"), "max")
}

func keyValue(file, key string) int64 {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// remove SIGKILLs what is left in the cgroups (descendants that left the
// plugin's process group) and deletes them.
func (c *cgroups) remove() {
	for _, d := range c.dirs() {
		if d == "" {
			continue
		}
		for i := 0; i < 20; i++ {
			if err := os.Remove(d); err == nil || os.IsNotExist(err) {
				break // removed (under cgroup v2, maybe as another controller's)
			}
			raw, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
