package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cgroupParentName is the directory the node creates under its own cgroup
// (v1: in the memory and pids hierarchies) to hold one cgroup per plugin
// process. It is shared by the nodes of a machine and left in place.
const cgroupParentName = "coordinator-plugins"

// hierarchy is where per-plugin cgroups of one controller are created.
type hierarchy struct {
	version string // "v1" or "v2"
	parent  string // directory to create plugin cgroups in
	err     error  // why it is unusable
}

var (
	hierOnce          sync.Once
	memHier, pidsHier hierarchy
)

// hierarchies finds (once) where this process may create memory and pids
// cgroups: cgroup v1 controller hierarchies under /sys/fs/cgroup/<ctl>, or a
// cgroup v2 tree whose own cgroup delegates the controller.
func hierarchies() (hierarchy, hierarchy) {
	hierOnce.Do(func() {
		memHier = findHierarchy("memory")
		pidsHier = findHierarchy("pids")
	})
	return memHier, pidsHier
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

// cgroups are one plugin process's memory and pids cgroups ("" when not
// available).
type cgroups struct {
	memory, pids    string
	memVer, pidsVer string
}

// newCgroups creates the plugin's cgroups with their limits; a controller
// that cannot be used is skipped (Probe reports it).
func newCgroups(id string, l Limits) *cgroups {
	mem, pids := hierarchies()
	cg := &cgroups{}
	name := fmt.Sprintf("%s-%d-%08x", safeName(id), os.Getpid(), rand.Uint32())
	if mem.err == nil && l.MemoryBytes > 0 {
		dir := filepath.Join(mem.parent, name)
		if os.Mkdir(dir, 0o755) == nil {
			v := strconv.FormatInt(l.MemoryBytes, 10)
			var err error
			if mem.version == "v1" {
				err = os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(v), 0)
				// memory+swap: no swapping past the limit (absent without swap accounting)
				_ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(v), 0)
			} else {
				err = os.WriteFile(filepath.Join(dir, "memory.max"), []byte(v), 0)
				_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
			}
			if err == nil {
				cg.memory, cg.memVer = dir, mem.version
			} else {
				_ = os.Remove(dir)
			}
		}
	}
	if pids.err == nil && l.Processes > 0 {
		dir := filepath.Join(pids.parent, name)
		if os.Mkdir(dir, 0o755) == nil {
			if os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(l.Processes)), 0) == nil {
				cg.pids, cg.pidsVer = dir, pids.version
			} else {
				_ = os.Remove(dir)
			}
		}
	}
	return cg
}

func (c *cgroups) procsFiles() []string {
	var out []string
	for _, d := range []string{c.memory, c.pids} {
		if d != "" {
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
	for _, d := range []string{c.memory, c.pids} {
		if d == "" {
			continue
		}
		for i := 0; i < 20; i++ {
			if os.Remove(d) == nil {
				break
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
