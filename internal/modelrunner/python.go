package modelrunner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	coordinator "github.com/crunch-coordinator/coordinator"
)

// EnvPython names the setting (environment or .local.env) that selects the
// Python interpreter of Python models.
const EnvPython = "PYTHON"

// DefaultPythons are tried in order when no interpreter is configured:
// Debian's system interpreter first (its python3-grpcio and
// python3-protobuf packages are where apt installs them), then python3 on
// PATH.
var DefaultPythons = []string{"/usr/bin/python3", "python3"}

// InstallHint is the fix for an interpreter without the runner's packages.
const InstallHint = "apt-get install python3-grpcio python3-protobuf (Debian/Ubuntu), or pip install grpcio protobuf for the interpreter set in PYTHON"

// ErrNoPython: no interpreter with the grpc and protobuf packages was found.
var ErrNoPython = errors.New("no Python interpreter with grpcio and protobuf")

// PythonInfo describes the interpreter chosen for Python models.
type PythonInfo struct {
	Path     string // absolute path
	Version  string // e.g. "3.11.2"
	GRPC     string // grpcio version
	Protobuf string // protobuf version
}

// FindPython returns the first interpreter that imports grpc and
// google.protobuf: configured alone when set, else DefaultPythons in order.
// The error wraps ErrNoPython and says what each candidate lacked.
func FindPython(ctx context.Context, configured string) (PythonInfo, error) {
	cands := DefaultPythons
	if configured != "" {
		cands = []string{configured}
	}
	var why []string
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: not found", c))
			continue
		}
		info, err := probePython(ctx, p)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		return info, nil
	}
	return PythonInfo{}, fmt.Errorf("%w (%s); fix: %s", ErrNoPython, strings.Join(why, "; "), InstallHint)
}

const probeScript = `import sys, platform
try:
    import grpc, google.protobuf
except Exception as e:
    print("missing: %s" % e); sys.exit(3)
print(platform.python_version(), grpc.__version__, google.protobuf.__version__)
`

func probePython(ctx context.Context, p string) (PythonInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, "-c", probeScript)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PYTHONNOUSERSITE="}
	out, err := cmd.Output()
	line := strings.TrimSpace(string(out))
	if err != nil {
		if strings.HasPrefix(line, "missing: ") {
			return PythonInfo{}, errors.New(strings.TrimPrefix(line, "missing: "))
		}
		return PythonInfo{}, fmt.Errorf("python -c failed: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return PythonInfo{}, fmt.Errorf("unexpected probe answer %q", line)
	}
	return PythonInfo{Path: p, Version: f[0], GRPC: f[1], Protobuf: f[2]}, nil
}

// RunnerDir returns a directory to put on PYTHONPATH so that
// `python -m coordinator_runner` runs the runner embedded in this binary.
// The files are written once under cacheDir (default: the user cache
// directory) in a directory named after their SHA-256, so binaries of
// different versions never share a copy.
func RunnerDir(cacheDir string) (string, error) {
	src := coordinator.PythonRunnerFiles()
	files := map[string][]byte{}
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return fs.SkipDir
			}
			return nil
		}
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(name, "sdk/python/")] = b
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("embedded Python model runner: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cacheDir = filepath.Join(base, "coordinator")
	}
	dir := filepath.Join(cacheDir, "python-runner-"+hex.EncodeToString(h.Sum(nil))[:16])
	if complete(dir, files) {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("python model runner cache %s: %w", cacheDir, err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".python-runner-")
	if err != nil {
		return "", fmt.Errorf("python model runner cache %s: %w", cacheDir, err)
	}
	for _, n := range names {
		p := filepath.Join(tmp, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if complete(dir, files) { // another process won the race
			return dir, nil
		}
		return "", fmt.Errorf("install Python model runner in %s: %w", dir, err)
	}
	return dir, nil
}

func complete(dir string, files map[string][]byte) bool {
	for n, b := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Clean(n))))
		if err != nil || !bytes.Equal(got, b) {
			return false
		}
	}
	return true
}
