// Package coordinator is the root of the coordinator module. It only
// carries the SDK module sources (go.mod, go.sum, sdk/ and proto/) inside
// the binary, so `coordinator init` can write them to
// <workspace>/.coordinator/sdk pinned to the binary's own version.
package coordinator

import (
	"embed"
	"io/fs"
	"path/filepath"
	"runtime"
)

// ModulePath is the module path of the coordinator (and of its SDK).
const ModulePath = "github.com/crunch-coordinator/coordinator"

//go:embed go.mod go.sum sdk proto
var sdkFiles embed.FS

// pythonRunner is the local Python model runner (sdk/python); "all:" keeps
// the package's __init__.py, __main__.py and _proto/.
//
//go:embed all:sdk/python/coordinator_runner
var pythonRunner embed.FS

// PythonRunnerFiles returns the embedded Python model runner: the package
// directory sdk/python/coordinator_runner (skip __pycache__ when copying).
func PythonRunnerFiles() fs.FS { return pythonRunner }

// SDKFiles returns the embedded SDK module tree: go.mod, go.sum, sdk/...
// and proto/... (test files and testdata included; callers writing a copy
// skip them).
func SDKFiles() fs.FS { return sdkFiles }

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
