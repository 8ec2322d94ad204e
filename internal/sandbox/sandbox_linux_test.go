package sandbox

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run starts script under /bin/sh in a fresh box and returns its output.
func run(t *testing.T, c Config, p Plugin, script string) (string, error) {
	t.Helper()
	p.Exec, p.Args = "/bin/sh", []string{"-c", script}
	if p.ID == "" {
		p.ID = "t"
	}
	b, err := Prepare(c, p)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer b.Close()
	cmd, err := b.Command([]string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func TestLauncherRestricts(t *testing.T) {
	rep := Probe(Config{})
	if !rep.Filesystem {
		t.Skip("Landlock is not available on this kernel: filesystem isolation not tested")
	}
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Readable by anyone (parent too): only Landlock stands in the way.
	for _, d := range []string{secretDir, filepath.Dir(secretDir)} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	codeDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(codeDir, "code.txt"), []byte("code"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(codeDir, "link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, script string
		wantOK       bool
		want         string
	}{
		{"read own code", "cat code.txt", true, "code"},
		{"symlink out of the code dir", "cat link", false, ""},
		{"read another file", "cat " + secret, false, ""},
		{"read the host's environ", fmt.Sprintf("cat /proc/%d/environ", os.Getpid()), false, ""},
		{"write scratch", `echo x > "$TMPDIR/f" && cat "$TMPDIR/f"`, true, "x"},
		{"write outside", "echo x > " + filepath.Join(secretDir, "new"), false, ""},
		{"read own proc", "head -c 0 /proc/$$/status && echo ok", true, "ok"},
		{"system files", "ls /usr/bin >/dev/null && echo ok", true, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, Config{}, Plugin{ReadDirs: []string{codeDir}, Dir: codeDir}, tc.script)
			if tc.wantOK && (err != nil || out != tc.want) {
				t.Fatalf("expected success with %q, got %v: %s", tc.want, err, out)
			}
			if !tc.wantOK && err == nil {
				t.Fatalf("expected the sandbox to refuse, it succeeded: %s", out)
			}
			if strings.Contains(out, "s3cret") {
				t.Fatalf("secret leaked: %s", out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(secretDir, "new")); err == nil {
		t.Fatal("a file was written outside the scratch directory")
	}
}

func TestLauncherUIDAndLimits(t *testing.T) {
	c := Config{Limits: Limits{OpenFiles: 77, FileSizeBytes: 1 << 20}}
	out, err := run(t, c, Plugin{}, "id -u; id -g; ulimit -n; ulimit -f; grep NoNewPrivs /proc/$$/status")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lines := strings.Split(out, "\n")
	wantUID := fmt.Sprint(os.Geteuid())
	if os.Geteuid() == 0 {
		wantUID = fmt.Sprint(DefaultUID)
	}
	if len(lines) != 5 || lines[0] != wantUID || lines[2] != "77" || lines[3] != "2048" || !strings.HasSuffix(lines[4], "1") {
		t.Fatalf("expected uid %s, 77 open files, 2048 blocks of file size, NoNewPrivs 1; got:\n%s", wantUID, out)
	}
}

func TestLauncherNetwork(t *testing.T) {
	if !Probe(Config{}).Network {
		t.Skip("Landlock ABI < 4: network isolation not tested")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	script := py + ` -c "import socket; s=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', 5432)); print('connected')"`
	out, err := run(t, Config{}, Plugin{}, script)
	if err == nil || strings.Contains(out, "connected") {
		t.Fatalf("a model connected to 127.0.0.1:5432: %v %s", err, out)
	}
	if !strings.Contains(out, "PermissionError") {
		t.Fatalf("expected a permission error, got: %s", out)
	}
}

func TestCopyTooLarge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("copies are made only when the node runs as root")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Prepare(Config{MaxCopyBytes: 1024}, Plugin{ID: "big", Exec: "/bin/sh", ReadDirs: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), "exceeds 1024 bytes") {
		t.Fatalf("expected a copy-too-large error naming the limit, got %v", err)
	}
}

// TestLauncherCPUQuota runs three busy loops for 2 s under a limit of 200
// millicores: the cgroup holds the quota, and the CPU time of the launched
// process and its waited-for children (wait4's rusage, measured by the
// kernel) stays near 0.2 CPU over the wall interval (at most twice it plus
// 0.1 s: the check is that the quota is enforced, not a speed).
func TestLauncherCPUQuota(t *testing.T) {
	if Probe(Config{}).CPUCgroup == "" {
		t.Skip("no cpu cgroup this node may use: the CPU limit is not tested")
	}
	const millicores = 200
	b, err := Prepare(Config{Limits: Limits{CPUMillicores: millicores}}, Plugin{ID: "spin", Exec: "/bin/sh",
		Args: []string{"-c", `for i in 1 2 3; do timeout 2 sh -c 'while :; do :; done' & done; wait`}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer b.Close()
	if b.cg.cpu == "" {
		t.Fatal("no cpu cgroup was made for the plugin")
	}
	file, want := "cpu.max", "20000 100000"
	if allHiers.cpu.version == "v1" {
		file, want = "cpu.cfs_quota_us", "20000"
	}
	if raw, err := os.ReadFile(filepath.Join(b.cg.cpu, file)); err != nil || strings.TrimSpace(string(raw)) != want {
		t.Fatalf("%s: expected %q, got %q %v", file, want, raw, err)
	}
	cmd, err := b.Command([]string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	wall := time.Since(start).Seconds()
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	limit := 2*float64(millicores)/1000*wall + 0.1
	t.Logf("3 busy loops used %.3f s of CPU in %.3f s under %d millicores", cpu, wall, millicores)
	if cpu > limit {
		t.Fatalf("3 busy loops used %.3f s of CPU in %.3f s, expected at most %.3f s under %d millicores", cpu, wall, limit, millicores)
	}
}

// TestLauncherSocketFilter: under the seccomp socket filter a plugin
// without network can create Unix sockets (go-plugin's and the Python
// runner's connection to the host) and no other: UDP, TCP, IPv6, raw IP,
// packet and netlink sockets fail with EPERM; with network allowed (the
// challenge under CHALLENGE_ALLOW_NETWORK) the filter is not installed.
func TestLauncherSocketFilter(t *testing.T) {
	if !Probe(Config{}).SocketFilter {
		t.Skip("no seccomp socket filter on this machine: not tested")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	script := py + ` -c "
import socket
tries = [('unix', socket.AF_UNIX, socket.SOCK_STREAM, 0), ('udp', socket.AF_INET, socket.SOCK_DGRAM, 0),
         ('tcp', socket.AF_INET, socket.SOCK_STREAM, 0), ('udp6', socket.AF_INET6, socket.SOCK_DGRAM, 0),
         ('raw', socket.AF_INET, socket.SOCK_RAW, 1), ('packet', socket.AF_PACKET, socket.SOCK_RAW, 768),
         ('netlink', socket.AF_NETLINK, socket.SOCK_RAW, 0)]
for name, fam, typ, proto in tries:
    try:
        socket.socket(fam, typ, proto).close(); print(name, 'ok')
    except OSError as e:
        print(name, e.errno)
try:
    a, b = socket.socketpair(socket.AF_UNIX); print('unixpair ok')
except OSError as e:
    print('unixpair', e.errno)
"`
	eperm := fmt.Sprint(int(syscall.EPERM))
	cases := []struct {
		name    string
		network bool
		want    map[string]string
	}{
		{"model", false, map[string]string{"unix": "ok", "unixpair": "ok", "udp": eperm, "tcp": eperm, "udp6": eperm, "raw": eperm, "packet": eperm, "netlink": eperm}},
		{"network allowed", true, map[string]string{"unix": "ok", "unixpair": "ok", "udp": "ok", "tcp": "ok", "netlink": "ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkOutcomes(t, Plugin{Network: tc.network}, script, tc.want)
		})
	}
}

// TestLauncherModelNoDial: a model's socket filter also closes the Unix
// sockets that reach out: connect(2) to a named socket fails with EPERM and
// only stream sockets can be created (a datagram socket could sendto(2) a
// named socket unconnected); the challenge (its plugin dials the host's
// broker) connects, and creates datagram sockets; a listening Unix socket
// still works for both (the host dials the plugin).
func TestLauncherModelNoDial(t *testing.T) {
	if !Probe(Config{}).SocketFilter {
		t.Skip("no seccomp socket filter on this machine: not tested")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	// A named socket outside the plugin's box, reachable by its uid:
	// standing for a host daemon's or another participant's listener. It
	// is in a directory the plugin may write so that only the filter (not
	// a Landlock ABI with Unix-socket rules) decides.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "daemon.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	go acceptAndClose(ln)
	script := py + ` -c "
import socket, os
def tryit(name, f):
    try:
        f(); print(name, 'ok')
    except OSError as e:
        print(name, e.errno)
tryit('connect', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect('` + path + `'))
tryit('dgram', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).close())
tryit('seqpacket', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).close())
tryit('streampair', lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
tryit('dgrampair', lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
tryit('nonblock', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC).close())
def listen():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(os.path.join(os.environ['TMPDIR'], 'own.sock')); s.listen(1)
tryit('listen', listen)
"`
	eperm := fmt.Sprint(int(syscall.EPERM))
	cases := []struct {
		name string
		p    Plugin
		want map[string]string
	}{
		{"model", Plugin{ExtraWriteDirs: []string{dir}}, map[string]string{"connect": eperm, "dgram": eperm, "seqpacket": eperm, "dgrampair": eperm, "streampair": "ok", "nonblock": "ok", "listen": "ok"}},
		{"challenge", Plugin{Challenge: true, ExtraWriteDirs: []string{dir}}, map[string]string{"connect": "ok", "dgram": "ok", "seqpacket": "ok", "dgrampair": "ok", "streampair": "ok", "nonblock": "ok", "listen": "ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkOutcomes(t, tc.p, script, tc.want)
		})
	}
}

// checkOutcomes runs script (which prints one "<attempt> <outcome>" line
// per attempt: "ok" or an errno) in a box for p and checks each attempt of
// want got its outcome.
func checkOutcomes(t *testing.T, p Plugin, script string, want map[string]string) {
	t.Helper()
	out, err := run(t, Config{}, p, script)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: expected %s, got %q (all: %s)", k, v, got[k], out)
		}
	}
}

// acceptAndClose accepts and closes connections on l until it is closed
// (a listener standing for a host daemon the sandboxed plugin tries).
func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_ = c.Close()
	}
}
