// Package coordinator is the root of the coordinator module. It only
// gathers the sources of the SDK and proto modules inside the binary, so
// `coordinator init` can write them to <workspace>/.coordinator/sdk pinned
// to the binary's own version.
package coordinator

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/proto"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/python"
)

// ModulePath is the module path of the coordinator. The SDK module is
// ModulePath + "/sdk" and the proto module ModulePath + "/proto"; both are
// folders of this repository, required by the coordinator's go.mod with a
// replace directive.
const ModulePath = "github.com/crunch-coordinator/coordinator"

// SDKModules lists the folders of the modules a plugin author's workspace
// uses (relative to a checkout or to the SDK copy): the SDK and the proto
// contracts it speaks.
var SDKModules = []string{"sdk", "proto"}

// PythonRunnerFiles returns the embedded local Python model runner: the
// package folder coordinator_runner of sdk/python (skip __pycache__ when
// copying).
func PythonRunnerFiles() fs.FS { return python.RunnerFiles() }

// SDKFiles returns the embedded sources of the SDK modules, one folder per
// module (sdk/... and proto/..., each with its go.mod and go.sum; test
// files and testdata included; callers writing a copy skip them).
func SDKFiles() fs.FS {
	return mountFS{"sdk": sdk.ModuleFiles(), "proto": proto.ModuleFiles()}
}

// mountFS serves each file system under its top-level folder name.
type mountFS map[string]fs.FS

func (m mountFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &mountRoot{m: m}, nil
	}
	top, rest, _ := strings.Cut(name, "/")
	sub, ok := m[top]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if rest == "" {
		rest = "."
	}
	f, err := sub.Open(rest)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = path.Join(top, pe.Path)
		}
		return nil, err
	}
	if d, ok := f.(fs.ReadDirFile); ok && rest == "." {
		return mountPoint{ReadDirFile: d, name: top}, nil
	}
	return f, nil
}

// mountPoint is the root folder of a mounted file system, named after its
// mount.
type mountPoint struct {
	fs.ReadDirFile
	name string
}

func (d mountPoint) Stat() (fs.FileInfo, error) {
	fi, err := d.ReadDirFile.Stat()
	if err != nil {
		return nil, err
	}
	return renamed{FileInfo: fi, name: d.name}, nil
}

type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// mountRoot is the root folder of a mountFS: one folder per mount.
type mountRoot struct {
	m   mountFS
	off int
}

func (r *mountRoot) Stat() (fs.FileInfo, error) { return dirInfo("."), nil }
func (r *mountRoot) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (r *mountRoot) Close() error { return nil }

func (r *mountRoot) ReadDir(n int) ([]fs.DirEntry, error) {
	names := make([]string, 0, len(r.m))
	for name := range r.m {
		names = append(names, name)
	}
	slices.Sort(names)
	names = names[r.off:]
	if n > 0 && len(names) == 0 {
		return nil, io.EOF
	}
	if n > 0 && len(names) > n {
		names = names[:n]
	}
	r.off += len(names)
	out := make([]fs.DirEntry, len(names))
	for i, name := range names {
		out[i] = fs.FileInfoToDirEntry(dirInfo(name))
	}
	return out, nil
}

type dirInfo string

func (d dirInfo) Name() string       { return string(d) }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }

// CompiledSourceDir returns the absolute directory this file was compiled
// from, or "" when the binary was built with -trimpath (release builds).
// It lets `coordinator init` detect that it runs from a source checkout.
func CompiledSourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(file)
}
