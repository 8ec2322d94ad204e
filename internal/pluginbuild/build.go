// Package pluginbuild compiles plugin binaries (the challenge plugin and the
// model plugins of a workspace) with `go build`, skipping a plugin whose
// sources have not changed since its last build.
//
// A build is skipped when the binary exists and the fingerprint stored next
// to it matches: a SHA-256 over the Go toolchain version, the build
// directory's go.work/go.mod/go.sum files and the path, size and
// modification time of every .go, go.mod and go.sum file under the
// module roots it depends on (Roots). Go's own build cache makes the
// remaining builds incremental.
package pluginbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/layout"
)

// Target is one plugin to build: the Go main package directory and the
// output binary path.
type Target struct {
	Name string // plugin name, for progress and errors
	Dir  string // absolute directory of the main package
	Out  string // absolute output binary path
}

// BinaryMode is the mode of every built plugin binary: read-only (the
// build replaces the file; nothing writes into it).
const BinaryMode os.FileMode = 0o555

// Event reports progress: Phase is "skip" (up to date), "build" (started),
// "done" (built, with Duration) or "fail".
type Event struct {
	Target   Target
	Phase    string
	Duration time.Duration
	Err      error
}

// Options control a build.
type Options struct {
	// WorkDir is where `go build` runs (the workspace root holding go.work,
	// or the node directory below it).
	WorkDir string
	// Roots are the directories whose sources are fingerprinted (the
	// workspace modules and, when used, the coordinator checkout).
	Roots []string
	// Env is appended to the process environment for `go build`.
	Env []string
	// OutDir, when set, is the directory every Target.Out must lie under
	// (the state directory's bin/): a target outside it is refused before
	// anything is built, so no name can send a build output elsewhere.
	OutDir string
	// Force rebuilds even when the fingerprint matches.
	Force bool
	// Progress, when set, receives an Event per phase.
	Progress func(Event)
}

// Build builds the targets one after another (go build parallelises
// internally) and returns the first error, which names the plugin and
// includes the compiler output.
func Build(ctx context.Context, targets []Target, opts Options) error {
	if opts.OutDir != "" {
		for _, t := range targets {
			if !within(opts.OutDir, t.Out) {
				return fmt.Errorf("build plugin %s: output %s is outside %s: refused", t.Name, t.Out, opts.OutDir)
			}
		}
	}
	fp, err := Fingerprint(opts.Roots)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := buildOne(ctx, t, fp, opts); err != nil {
			return err
		}
	}
	return nil
}

// within reports whether path lies strictly under dir (both cleaned,
// lexically; no symlink resolution).
func within(dir, path string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func emit(opts Options, e Event) {
	if opts.Progress != nil {
		opts.Progress(e)
	}
}

func buildOne(ctx context.Context, t Target, fp string, opts Options) error {
	stamp := t.Out + ".fingerprint"
	key := fp + "|" + t.Dir
	if !opts.Force {
		if b, err := os.ReadFile(stamp); err == nil && string(b) == key {
			if st, err := os.Stat(t.Out); err == nil {
				if st.Mode().Perm() != BinaryMode {
					if err := os.Chmod(t.Out, BinaryMode); err != nil {
						return fmt.Errorf("build plugin %s: %w", t.Name, err)
					}
				}
				emit(opts, Event{Target: t, Phase: "skip"})
				return nil
			}
		}
	}
	if st, err := os.Stat(t.Dir); err != nil || !st.IsDir() {
		err := fmt.Errorf("build plugin %s: expected a Go main package directory at %s: not found", t.Name, t.Dir)
		emit(opts, Event{Target: t, Phase: "fail", Err: err})
		return err
	}
	emit(opts, Event{Target: t, Phase: "build"})
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(t.Out), 0o755); err != nil {
		return fmt.Errorf("build plugin %s: %w", t.Name, err)
	}
	// Built beside the output, made read-only, then renamed over it: the
	// binary is never seen half-written or writable.
	tmp := t.Out + ".tmp"
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, ".")
	cmd.Dir = t.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("build plugin %s (go build in %s): %w\n%s", t.Name, t.Dir, err, strings.TrimSpace(out.String()))
		emit(opts, Event{Target: t, Phase: "fail", Err: err})
		return err
	}
	if err := os.Chmod(tmp, BinaryMode); err != nil {
		return fmt.Errorf("build plugin %s: %w", t.Name, err)
	}
	if err := os.Rename(tmp, t.Out); err != nil {
		return fmt.Errorf("build plugin %s: %w", t.Name, err)
	}
	if err := os.WriteFile(stamp, []byte(key), 0o644); err != nil {
		return fmt.Errorf("build plugin %s: write %s: %w", t.Name, stamp, err)
	}
	emit(opts, Event{Target: t, Phase: "done", Duration: time.Since(start)})
	return nil
}

// Fingerprint hashes the sources under roots (see the package doc).
// Directories named testdata, vendor, node_modules, .git and .coordinator
// are skipped, as are _test.go files.
func Fingerprint(roots []string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	var lines []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				switch d.Name() {
				case ".git", layout.StateDirName, "testdata", "vendor", "node_modules", "bin":
					if p != root {
						return filepath.SkipDir
					}
				}
				return nil
			}
			name := d.Name()
			if !(strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" || name == "go.work") || strings.HasSuffix(name, "_test.go") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s %d %d", p, info.Size(), info.ModTime().UnixNano()))
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("fingerprint sources under %s: %w", root, err)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
