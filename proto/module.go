package proto

import (
	"embed"
	"io/fs"
)

// moduleFiles is this module's source tree. Files and folders whose names
// begin with "." or "_" are left out (go:embed's rule).
//
//go:embed *
var moduleFiles embed.FS

// ModuleFiles returns the source tree of the proto module (go.mod, go.sum,
// the .proto contracts and their generated code, test files included) as
// embedded when the program was built. `coordinator init` writes it, with
// the SDK module, to a workspace's .coordinator/sdk.
func ModuleFiles() fs.FS { return moduleFiles }
