package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLimitWriteFailure: a cgroup limit the kernel refuses (writeLimit
// injected to fail with EINVAL on one file, as cgroup v1 does for a CPU
// quota above the node's own) fails Prepare with ErrSetup under
// REQUIRE_SANDBOX, naming the plugin, the limit and the file; without it
// the box is made and Unset names the same; and Probe, which makes the
// same writes in a trial cgroup, reports it missing and not enforced.
func TestLimitWriteFailure(t *testing.T) {
	h := hierarchies()
	for _, tc := range []struct {
		name, limit string
		hier        hierarchy
		files       []string
		enforced    func(Report) bool
	}{
		{"memory", "memory limit", h.mem, []string{"memory.max", "memory.limit_in_bytes"}, func(r Report) bool { return r.MemoryCgroup != "" }},
		{"pids", "process limit", h.pids, []string{"pids.max"}, func(r Report) bool { return r.PidsCgroup != "" }},
		{"cpu", "cpu limit", h.cpu, []string{"cpu.max", "cpu.cfs_quota_us"}, func(r Report) bool { return r.CPUMillicores > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hier.err != nil {
				t.Skipf("no %s cgroup here: %v", tc.name, tc.hier.err)
			}
			orig := writeLimit
			defer func() { writeLimit = orig }()
			writeLimit = func(file string, v []byte) error {
				for _, f := range tc.files {
					if filepath.Base(file) == f {
						return &os.PathError{Op: "write", Path: file, Err: syscall.EINVAL}
					}
				}
				return orig(file, v)
			}
			c := Config{Root: t.TempDir(), Require: true}
			_, err := Prepare(c, Plugin{ID: "victim", Exec: "/bin/true"})
			if !errors.Is(err, ErrSetup) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Prepare with REQUIRE_SANDBOX: %v, want ErrSetup wrapping EINVAL", err)
			}
			for _, want := range []string{"victim", tc.limit, "/" + cgroupParentName + "/"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			c.Require = false
			b, err := Prepare(c, Plugin{ID: "victim", Exec: "/bin/true"})
			if err != nil {
				t.Fatalf("Prepare without REQUIRE_SANDBOX: %v", err)
			}
			defer b.Close()
			if len(b.Unset) != 1 || !strings.Contains(b.Unset[0].Error(), "victim") || !strings.Contains(b.Unset[0].Error(), tc.limit) {
				t.Errorf("Unset %v, want one error naming victim and %q", b.Unset, tc.limit)
			}
			r := Probe(c)
			if tc.enforced(r) || !strings.Contains(strings.Join(r.Missing, "; "), tc.limit) {
				t.Errorf("Probe: enforced %v, missing %q, want %q missing and not enforced", r.Enforced(), r.Missing, tc.limit)
			}
			if err := c.Check(r); err != nil {
				t.Errorf("Check without REQUIRE_SANDBOX: %v", err)
			}
			c.Require = true
			if err := c.Check(r); err == nil || !strings.Contains(err.Error(), tc.limit) {
				t.Errorf("Check with REQUIRE_SANDBOX: %v, want an error naming %q", err, tc.limit)
			}
		})
	}
}

// TestCPUQuotaAboveParent: the real case (root, cgroup v1 cpu): a parent
// cgroup with a quota of half a CPU refuses a plugin's 1-CPU quota with
// EINVAL, and the error names the limit, the file and the parent's quota.
func TestCPUQuotaAboveParent(t *testing.T) {
	h := hierarchies()
	if h.cpu.err != nil || h.cpu.version != "v1" || os.Geteuid() != 0 {
		t.Skip("needs root and a cgroup v1 cpu hierarchy")
	}
	parent := filepath.Join(h.cpu.parent, fmt.Sprintf("test-low-%d", os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(parent)
	if err := os.WriteFile(filepath.Join(parent, "cpu.cfs_quota_us"), []byte("50000"), 0); err != nil {
		t.Fatal(err)
	}
	cg, errs := newCgroupsIn(hiers{cpu: hierarchy{version: "v1", parent: parent}}, "victim", Limits{}, 1000)
	cg.remove()
	if len(errs) != 1 || !errors.Is(errs[0], syscall.EINVAL) {
		t.Fatalf("errors %v, want one EINVAL", errs)
	}
	for _, want := range []string{"cpu limit 1000 millicores", "cpu.cfs_quota_us", parent + "/cpu.cfs_quota_us = 50000"} {
		if !strings.Contains(errs[0].Error(), want) {
			t.Errorf("error %q does not name %q", errs[0], want)
		}
	}
	if cg, errs := newCgroupsIn(hiers{cpu: hierarchy{version: "v1", parent: parent}}, "victim", Limits{}, 400); len(errs) != 0 {
		t.Errorf("400 millicores under a 500 millicore parent: %v", errs)
	} else {
		cg.remove()
	}
}

// TestLauncherAbstractSocketScoped: a sandboxed plugin cannot connect(2)
// to an abstract Unix socket opened outside its Landlock domain (here by
// the test, standing for a host daemon or another model: Landlock ABI >= 6,
// LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, part of landlock.V11's scopes);
// the same script run unsandboxed connects.
func TestLauncherAbstractSocketScoped(t *testing.T) {
	if !Probe(Config{}).Scoped {
		t.Skip("Landlock ABI < 6 here: abstract sockets are not scoped")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	name := fmt.Sprintf("coord-test-abstract-%d", os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go acceptAndClose(l)
	script := py + ` -c "
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\0` + name + `'); print('connect ok')
except OSError as e:
    print('connect', e.errno)
"`
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"sandboxed", Config{}, fmt.Sprintf("connect %d", int(syscall.EPERM))},
		{"unsandboxed", Config{Disabled: true}, "connect ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.c, Plugin{}, script)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}
