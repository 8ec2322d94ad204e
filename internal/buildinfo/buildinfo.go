// Package buildinfo holds the version and commit stamped at build time
// (Makefile: -ldflags -X). Without stamping, Version falls back to the module
// version recorded by the Go toolchain, else "dev".
package buildinfo

import "runtime/debug"

// Set by the linker: -X github.com/crunch-coordinator/coordinator/internal/buildinfo.Version=...
var (
	Version = ""
	Commit  = ""
)

// Get returns the version and commit, falling back to the module build info.
func Get() (version, commit string) {
	version, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" && len(s.Value) >= 7 {
				commit = s.Value[:7]
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}
