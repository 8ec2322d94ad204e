// Package extbuild builds and runs the node binary of a workspace that
// replaces a service (PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY,
// REPORT_APP_FACTORY; see package extend): the coordinator's own main
// package (cmd/coordinator) linked with the node workspace's extensions/
// package, so the factories it registers exist in the running process.
//
// Nothing of the coordinator is copied into the workspace. The build runs
// `go build` on the coordinator checkout's cmd/coordinator through the
// workspace's go.work (which must use a coordinator source checkout), with
// a -overlay adding one generated file to that package: a blank import of
// <node module>/extensions and the assignment of Linked. The binary is
// written to <node>/.coordinator/bin/node and rebuilt only when the
// fingerprint of the go.work modules' sources changes (package
// pluginbuild). `coordinator dev` and `coordinator serve` then run it with
// their own arguments.
package extbuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"

	coordinator "github.com/crunch-coordinator/coordinator"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
)

// Linked is the import path of the workspace extensions package linked
// into this binary, set by the generated file of a node binary; "" in the
// plain coordinator binary. A binary with Linked set never builds or runs
// another one: a factory it lacks is an error.
var Linked string

// ExtensionsDir is the node workspace folder holding the extensions
// package.
const ExtensionsDir = "extensions"

// genFile is the name the generated file takes inside cmd/coordinator.
const genFile = "zz_extensions_generated.go"

// ErrSetup is wrapped by the errors of a workspace that cannot build a
// node binary (no extensions package, go.work without a coordinator
// checkout): configuration, not a compiler error.
var ErrSetup = errors.New("cannot build the node binary with extensions")

// Plan is what a build needs, read from the workspace.
type Plan struct {
	// NodeDir is the node workspace; GoWork its workspace's go.work.
	NodeDir, GoWork string
	// Roots are the go.work modules' directories (fingerprinted).
	Roots []string
	// Coordinator is the coordinator checkout go.work uses.
	Coordinator string
	// Package is the import path of the extensions package.
	Package string
	// Out is the node binary (layout.Layout.NodeBinary).
	Out string
}

// Prepare reads the workspace of nodeDir: its go.work, the node module's
// path and the extensions package. Errors wrap ErrSetup and say how to fix
// the workspace.
func Prepare(nodeDir string) (Plan, error) {
	l := layout.Of(nodeDir)
	p := Plan{NodeDir: nodeDir, GoWork: filepath.Join(l.Root(), "go.work"), Out: l.NodeBinary()}
	raw, err := os.ReadFile(p.GoWork)
	if err != nil {
		return p, fmt.Errorf("%w: read the workspace's go.work: %w", ErrSetup, err)
	}
	wf, err := modfile.ParseWork(p.GoWork, raw, nil)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	var copyDir, sdkParent string
	for _, u := range wf.Use {
		dir := u.Path
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(l.Root(), dir)
		}
		dir = filepath.Clean(dir)
		p.Roots = append(p.Roots, dir)
		if modulePath(dir) == coordinator.ModulePath+"/sdk" && modulePath(filepath.Dir(dir)) == coordinator.ModulePath {
			sdkParent = filepath.Dir(dir)
		}
		if modulePath(dir) == coordinator.ModulePath {
			if isDir(filepath.Join(dir, "cmd", "coordinator")) && isDir(filepath.Join(dir, "extend")) {
				p.Coordinator = dir
			} else {
				copyDir = dir
			}
		}
	}
	if p.Coordinator == "" {
		fix := "add a coordinator source checkout to it (cd " + l.Root() + " && go work use /path/to/coordinator)"
		if sdkParent != "" {
			fix = "add the checkout its SDK comes from (cd " + l.Root() + " && go work use " + sdkParent + ")"
		}
		found := "does not use the coordinator's root module " + coordinator.ModulePath
		if copyDir != "" {
			found = "uses " + copyDir + ", which holds the SDK only"
		}
		return p, fmt.Errorf("%w: %s %s; a node with service factories is built from the coordinator's source: %s",
			ErrSetup, p.GoWork, found, fix)
	}
	mod := modulePath(nodeDir)
	if mod == "" {
		return p, fmt.Errorf("%w: %s has no go.mod with a module line: the node folder must be a Go module of the workspace's go.work", ErrSetup, nodeDir)
	}
	if !hasGoFiles(filepath.Join(nodeDir, ExtensionsDir)) {
		return p, fmt.Errorf("%w: a service factory is selected, but %s holds no Go package: write one whose init registers the factory (extend.RegisterReportApp, ...; see the README's extension section), or generate one with `coordinator init --with-extension custom-report|tournament-rounds`",
			ErrSetup, filepath.Join(nodeDir, ExtensionsDir))
	}
	p.Package = mod + "/" + ExtensionsDir
	return p, nil
}

// Build builds the node binary of p (skipped when up to date, unless
// force) and returns its path. progress, when set, receives pluginbuild's
// events. A compiler error names the extensions package and carries the
// compiler's output.
func Build(ctx context.Context, p Plan, force bool, progress func(pluginbuild.Event)) (string, error) {
	l := layout.Of(p.NodeDir)
	if err := os.MkdirAll(l.BuildDir(), 0o755); err != nil {
		return "", err
	}
	gen := filepath.Join(l.BuildDir(), genFile)
	src := fmt.Sprintf(`// Code generated by coordinator (package extbuild); DO NOT EDIT.

package main

import (
	_ %q

	"github.com/crunch-coordinator/coordinator/internal/extbuild"
)

func init() { extbuild.Linked = %q }
`, p.Package, p.Package)
	if err := writeIfChanged(gen, []byte(src)); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(p.Coordinator, "cmd", "coordinator", genFile): gen}})
	if err != nil {
		return "", err
	}
	ovPath := filepath.Join(l.BuildDir(), "overlay.json")
	if err := writeIfChanged(ovPath, overlay); err != nil {
		return "", err
	}
	err = pluginbuild.Build(ctx, []pluginbuild.Target{{Name: "node (with " + p.Package + ")", Dir: filepath.Join(p.Coordinator, "cmd", "coordinator"), Out: p.Out}},
		pluginbuild.Options{
			WorkDir: filepath.Dir(p.GoWork), Roots: p.Roots, Force: force, Progress: progress,
			Env: []string{"GOWORK=" + p.GoWork, "GOFLAGS=-buildvcs=false -overlay=" + ovPath},
		})
	if err != nil {
		return "", err
	}
	return p.Out, nil
}

// Run runs bin with args in dir, wired to the given streams, until it
// exits or ctx ends: then it gets SIGTERM (it drains like the parent
// would) and, after grace, SIGKILL. It returns the child's exit code.
func Run(ctx context.Context, bin string, args []string, dir string, stdin io.Reader, stdout, stderr io.Writer, grace time.Duration) (int, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = grace
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), nil
	case errors.As(err, &ee) && ctx.Err() != nil:
		return 0, nil // ended by our SIGTERM: a clean shutdown
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The child exited 0 after our SIGTERM; exec reports the
		// context's error for that case. A clean shutdown too.
		return 0, nil
	}
	return 1, fmt.Errorf("run the node binary %s: %w", bin, err)
}

func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return nil
	}
	return os.WriteFile(path, b, 0o644)
}

func modulePath(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return ""
	}
	return modfile.ModulePath(b)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func hasGoFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return true
		}
	}
	return false
}
