// Package python carries the local Python model runner
// (coordinator_runner, grpcio and protobuf only) inside Go binaries: the
// coordinator writes it to a cache folder and runs `python -m
// coordinator_runner` for Python models.
package python

import (
	"embed"
	"io/fs"
)

// runner is the coordinator_runner package; "all:" keeps its __init__.py,
// __main__.py and _proto/.
//
//go:embed all:coordinator_runner
var runner embed.FS

// RunnerFiles returns the embedded runner: the folder coordinator_runner
// (skip __pycache__ when copying).
func RunnerFiles() fs.FS { return runner }
