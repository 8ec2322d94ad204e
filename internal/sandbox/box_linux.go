package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// systemReadDirs are what a program needs from the system: shared
// libraries, interpreters, CA certificates, time zone data, resolver
// configuration. Missing ones are skipped.
var systemReadDirs = []string{
	"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/alternatives",
}

// systemReadFiles are single system files a program may read.
var systemReadFiles = []string{
	"/etc/ld.so.cache", "/etc/localtime", "/etc/resolv.conf", "/etc/hosts",
	"/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/mime.types",
	"/dev/urandom", "/dev/random", "/dev/zero",
}

// Box is one plugin process's sandbox: its directory (scratch directory,
// copies of what it reads), its cgroups and the launcher command. Close
// removes it once the process is gone.
type Box struct {
	// Dir holds the box (mode 0711); Scratch is the only directory the
	// plugin may write (its HOME and TMPDIR).
	Dir, Scratch string
	cfg          Config
	plugin       Plugin
	drop         bool
	paths        map[string]string
	pol          policy
	cg           *cgroups
	// Unset are the limits that could not be set (without REQUIRE_SANDBOX
	// the plugin runs without them), each naming the limit and the cgroup
	// file; the host logs them.
	Unset []error
}

// Prepare makes the box of one plugin launch: the directory, the scratch
// directory, the copies a dropped uid needs, the cgroups. A disabled
// Config returns a box that only runs the plugin directly. Errors name the
// plugin and the file.
func Prepare(c Config, p Plugin) (*Box, error) {
	c = c.WithDefaults()
	b := &Box{cfg: c, plugin: p, paths: map[string]string{}}
	if c.Disabled {
		for _, d := range p.ReadDirs {
			b.paths[d] = d
		}
		return b, nil
	}
	b.drop = os.Geteuid() == 0
	dir, err := os.MkdirTemp(c.Root, "coord-"+safeName(p.ID)+"-")
	if err != nil {
		return nil, fmt.Errorf("sandbox of plugin %s: %w: %w", p.ID, ErrSetup, err)
	}
	b.Dir = dir
	fail := func(err error) (*Box, error) {
		b.Close()
		return nil, fmt.Errorf("sandbox of plugin %s: %w", p.ID, err)
	}
	nodeFail := func(err error) (*Box, error) { return fail(fmt.Errorf("%w: %w", ErrSetup, err)) }
	if err := os.Chmod(dir, 0o711); err != nil {
		return nodeFail(err)
	}
	b.Scratch = filepath.Join(dir, "scratch")
	if err := os.Mkdir(b.Scratch, 0o700); err != nil {
		return nodeFail(err)
	}
	if b.drop {
		if err := os.Chown(b.Scratch, c.UID, c.GID); err != nil {
			return nodeFail(err)
		}
		if err := checkExecutable(p.Exec, c.UID, c.GID); err != nil {
			return fail(err)
		}
		budget := c.MaxCopyBytes
		for i, d := range p.ReadDirs {
			dst := filepath.Join(dir, "ro", fmt.Sprintf("%d-%s", i, filepath.Base(d)))
			if err := copyTree(d, dst, &budget, c.MaxCopyBytes); err != nil {
				return fail(err)
			}
			b.paths[d] = dst
		}
	} else {
		for _, d := range p.ReadDirs {
			b.paths[d] = d
		}
	}
	cpu := c.Limits.CPUMillicores
	if p.Challenge {
		cpu = c.ChallengeCPUMillicores
	}
	b.cg, b.Unset = newCgroups(p.ID, c.Limits, cpu)
	if len(b.Unset) > 0 && c.Require {
		return nodeFail(fmt.Errorf("the sandbox is required (REQUIRE_SANDBOX) but a cgroup limit could not be set: %w", errors.Join(b.Unset...)))
	}
	for i, e := range b.Unset {
		b.Unset[i] = fmt.Errorf("sandbox of plugin %s: %w", p.ID, e)
	}
	b.pol = b.buildPolicy()
	return b, nil
}

// Path is where the plugin sees read directory orig (a copy when the uid
// is dropped), or orig itself.
func (b *Box) Path(orig string) string {
	if p, ok := b.paths[orig]; ok {
		return p
	}
	return orig
}

// SocketGroup is the group go-plugin gives its socket directory and
// sockets so a plugin running as the sandbox gid can use them; "" when the
// uid is not dropped.
func (b *Box) SocketGroup() string {
	if !b.drop {
		return ""
	}
	return fmt.Sprint(b.cfg.GID)
}

// SetArgs replaces the plugin's arguments (without argv[0]), e.g. to name
// the copies Path returned.
func (b *Box) SetArgs(args []string) {
	b.plugin.Args = args
	b.pol.Argv = append([]string{b.plugin.Exec}, args...)
}

// AddWriteDir lets the plugin also create files and sockets in dir
// (go-plugin's socket directory, known only at exec time).
func (b *Box) AddWriteDir(dir string) {
	if dir != "" {
		b.pol.WriteDirs = append(b.pol.WriteDirs, dir)
	}
}

func (b *Box) buildPolicy() policy {
	p := b.plugin
	pol := policy{
		Exec: p.Exec, Argv: append([]string{p.Exec}, p.Args...),
		UID: -1, GID: -1, ParentPID: os.Getpid(), Network: p.Network, Landlock: true, SocketFilter: !p.Network, NoDial: !p.Challenge,
		ReadDirs:  append([]string{}, systemReadDirs...),
		ReadFiles: append([]string{p.Exec}, systemReadFiles...),
		WriteDirs: []string{b.Scratch},
		DevFiles:  []string{"/dev/null"},
		Dir:       b.Scratch,
	}
	if p.Dir != "" {
		pol.Dir = b.Path(p.Dir)
	}
	for _, d := range p.ReadDirs {
		pol.ReadDirs = append(pol.ReadDirs, b.Path(d))
	}
	pol.ReadDirs = append(pol.ReadDirs, "/proc/self", "/sys/devices/system/cpu")
	if etc, _ := filepath.Glob("/etc/python3*"); len(etc) > 0 {
		pol.ReadDirs = append(pol.ReadDirs, etc...) // Debian's sitecustomize
	}
	if prefix := interpreterPrefix(p); prefix != "" {
		pol.ReadDirs = append(pol.ReadDirs, prefix)
	}
	pol.WriteDirs = append(pol.WriteDirs, p.ExtraWriteDirs...)
	if b.drop {
		pol.UID, pol.GID = b.cfg.UID, b.cfg.GID
	}
	l := b.cfg.Limits
	add := func(res int, v int64) {
		if v > 0 {
			pol.Rlimits = append(pol.Rlimits, rlimit{Resource: res, Value: uint64(v)})
		}
	}
	pol.Rlimits = append(pol.Rlimits, rlimit{Resource: unix.RLIMIT_CORE, Value: 0})
	add(unix.RLIMIT_NOFILE, int64(l.OpenFiles))
	add(unix.RLIMIT_FSIZE, l.FileSizeBytes)
	if b.cg == nil || b.cg.memory == "" {
		add(unix.RLIMIT_DATA, l.MemoryBytes)
	}
	if (b.cg == nil || b.cg.pids == "") && b.drop {
		add(unix.RLIMIT_NPROC, int64(l.Processes))
	}
	if b.cg != nil {
		pol.Cgroups = b.cg.procsFiles()
	}
	return pol
}

// Command returns the launcher command: this binary re-executed with the
// policy, the plugin's environment env (HOME and TMPDIR point to the scratch
// directory) and stdin closed. The caller sets stdout, stderr and
// SysProcAttr and starts it.
func (b *Box) Command(env []string) (*exec.Cmd, error) {
	p := b.plugin
	if b.cfg.Disabled {
		cmd := exec.Command(p.Exec, p.Args...)
		cmd.Env = env
		if p.Dir != "" {
			cmd.Dir = p.Dir
		}
		return cmd, nil
	}
	raw, err := json.Marshal(b.pol)
	if err != nil {
		return nil, err
	}
	penv := make([]string, 0, len(env)+3)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != "HOME" && k != "TMPDIR" && k != EnvPolicy {
			penv = append(penv, kv)
		}
	}
	penv = append(penv, "HOME="+b.Scratch, "TMPDIR="+b.Scratch, EnvPolicy+"="+string(raw))
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"coordinator-sandbox", p.ID}
	cmd.Env = penv
	return cmd, nil
}

// LimitHit names the limit that ended the process, from facts the kernel
// recorded (the cgroups' OOM-kill and pids-max counters, SIGXFSZ), e.g.
// "memory limit 512 MiB exceeded"; "" when none did. Call it after the
// process exited.
func (b *Box) LimitHit(ws syscall.WaitStatus) string {
	if b == nil || b.cfg.Disabled {
		return ""
	}
	l := b.cfg.Limits
	if b.cg != nil && b.cg.oomKills() > 0 {
		return "memory limit " + MiB(l.MemoryBytes) + " exceeded"
	}
	if ws.Signaled() && ws.Signal() == syscall.SIGXFSZ {
		return "file size limit " + MiB(l.FileSizeBytes) + " exceeded"
	}
	if b.cg != nil && b.cg.pidsMaxHits() > 0 {
		return fmt.Sprintf("process limit %d reached", l.Processes)
	}
	return ""
}

// Close removes the box's cgroups and directory. The process must be gone.
func (b *Box) Close() {
	if b == nil {
		return
	}
	if b.cg != nil {
		b.cg.remove()
	}
	if b.Dir != "" {
		_ = os.RemoveAll(b.Dir)
	}
}

// ErrUnreadable: a plugin's file cannot be executed or read by the
// sandbox uid.
var ErrUnreadable = errors.New("not accessible to the sandbox user")

// checkExecutable fails when the sandbox uid/gid could not execute path
// (the launcher opens it as root, so only the file's own mode counts).
func checkExecutable(path string, uid, gid int) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	m := fi.Mode().Perm()
	okx := m&0o001 != 0 || (int(st.Gid) == gid && m&0o010 != 0) || (int(st.Uid) == uid && m&0o100 != 0)
	if !okx {
		return fmt.Errorf("%w: %s has mode %s owner %d:%d, uid %d gid %d cannot execute it (chmod o+x it, or set SANDBOX_UID/SANDBOX_GID)", ErrUnreadable, path, m, st.Uid, st.Gid, uid, gid)
	}
	return nil
}

// ErrCopyTooLarge: what a plugin reads is larger than Config.MaxCopyBytes.
var ErrCopyTooLarge = errors.New("plugin files too large to copy into the sandbox")

// copyTree copies the regular files and directories under src to dst,
// readable by everyone and writable by no one but the node. Symlinks are
// skipped (following them as root could copy a secret for the plugin), as
// are __pycache__ and .git directories.
func copyTree(src, dst string, budget *int64, max int64) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if path != src && (d.Name() == "__pycache__" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		*budget -= fi.Size()
		if *budget < 0 {
			return fmt.Errorf("%w: copying %s (the plugin runs as an unprivileged uid and reads a copy) exceeds %s; make the directory smaller", ErrCopyTooLarge, src, MiB(max))
		}
		mode := os.FileMode(0o644)
		if fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return copyFile(path, target, mode)
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// interpreterPrefix is the installation prefix an interpreter outside /usr
// reads (pyenv's <prefix>/bin/python3 reads <prefix>/lib): only for
// p.Interpreter, and only a directory of the form <prefix>/bin with a
// <prefix>/lib beside it, never / or the temporary directory.
func interpreterPrefix(p Plugin) string {
	if !p.Interpreter {
		return ""
	}
	real, err := filepath.EvalSymlinks(p.Exec)
	if err != nil || filepath.Base(filepath.Dir(real)) != "bin" {
		return ""
	}
	prefix := filepath.Dir(filepath.Dir(real))
	if prefix == "/" || prefix == filepath.Clean(os.TempDir()) {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(prefix, "lib")); err != nil || !fi.IsDir() {
		return ""
	}
	return prefix
}

// safeName keeps letters, digits, - and _ of a plugin id for file names.
func safeName(id string) string {
	var sb strings.Builder
	for _, r := range id {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			sb.WriteRune(r)
		}
		if sb.Len() >= 40 {
			break
		}
	}
	if sb.Len() == 0 {
		return "plugin"
	}
	return sb.String()
}
