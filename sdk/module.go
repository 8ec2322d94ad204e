package sdk

import (
	"embed"
	"io/fs"
)

// moduleFiles is this module's Go source tree: the Python model runner
// (python/, carried by package sdk/python) is not part of a workspace's
// copy. Files and folders whose names begin with "." or "_" are left out
// (go:embed's rule). A new package folder must be added here.
//
//go:embed go.mod go.sum *.go internal sdktest wire
var moduleFiles embed.FS

// ModuleFiles returns the source tree of the SDK module (go.mod, go.sum and
// every package, test files included) as embedded when the program was
// built. `coordinator init` writes it, with the proto module, to a
// workspace's .coordinator/sdk so the workspace builds against the SDK of
// the coordinator that created it. Plugins have no use for it; the linker
// leaves the files out of a binary that never calls ModuleFiles.
func ModuleFiles() fs.FS { return moduleFiles }
