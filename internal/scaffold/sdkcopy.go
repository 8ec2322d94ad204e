package scaffold

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"

	coordinator "github.com/crunch-coordinator/coordinator"
)

// EnvSourceDir names the environment variable that selects the SDK module
// the generated go.work uses: an absolute path of a coordinator source
// checkout, or "off" to force the .coordinator/sdk copy.
const EnvSourceDir = "COORDINATOR_SOURCE_DIR"

// addSDKCopy adds the SDK modules (sdk/... and proto/..., each with its
// go.mod and go.sum; no _test.go files, no testdata) under .coordinator/sdk,
// plus a COORDINATOR_VERSION file recording the version they were taken
// from.
func addSDKCopy(out map[string][]byte, sdkFS fs.FS, version string) error {
	for _, root := range coordinator.SDKModules {
		err := fs.WalkDir(sdkFS, root, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" || name == "sdk/python" {
					return fs.SkipDir // the Python model runner is not part of the Go SDK (nor of sdk.ModuleFiles)
				}
				return nil
			}
			if strings.HasSuffix(name, "_test.go") {
				return nil
			}
			b, err := fs.ReadFile(sdkFS, name)
			if err != nil {
				return err
			}
			out[path.Join(SDKCopyDir, name)] = b
			return nil
		})
		if err != nil {
			return fmt.Errorf("SDK copy: %s: %w", root, err)
		}
	}
	if version == "" {
		version = "dev"
	}
	out[path.Join(SDKCopyDir, "COORDINATOR_VERSION")] = []byte(version + "\n")
	return nil
}

// IsCheckout reports whether dir is a coordinator source checkout: a go.mod
// declaring module github.com/crunch-coordinator/coordinator next to
// cmd/coordinator/ and the SDK modules (sdk/go.mod and proto/go.mod
// declaring their module paths).
func IsCheckout(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || modulePath(b) != coordinator.ModulePath {
		return false
	}
	if st, err := os.Stat(filepath.Join(dir, "cmd", "coordinator")); err != nil || !st.IsDir() {
		return false
	}
	for _, m := range coordinator.SDKModules {
		b, err := os.ReadFile(filepath.Join(dir, m, "go.mod"))
		if err != nil || modulePath(b) != coordinator.ModulePath+"/"+m {
			return false
		}
	}
	return true
}

func modulePath(mod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// readGoDirective returns the go directive of the SDK module of checkout
// dir.
func readGoDirective(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "sdk", "go.mod"))
	if err != nil {
		return "", err
	}
	return goDirective(b), nil
}

// DetectSourceDir decides which SDK module the generated go.work uses and
// returns the absolute checkout path, or "" for the .coordinator/sdk copy.
// The rule, first match wins:
//
//  1. COORDINATOR_SOURCE_DIR=off (or none) → the copy; any other non-empty
//     value must be a coordinator checkout (see IsCheckout), else an
//     *InputError naming the variable.
//  2. The binary is a development build (module version "(devel)") whose
//     source directory, recorded at compile time, is still a checkout
//     (go build/go run/go install inside the checkout).
//  3. The running executable sits inside a checkout (e.g. ./bin/coordinator):
//     walking up from its folder finds one.
//  4. Otherwise the copy (release binaries are built with -trimpath).
func DetectSourceDir(getenv func(string) string) (string, error) {
	switch v := strings.TrimSpace(getenv(EnvSourceDir)); strings.ToLower(v) {
	case "":
	case "off", "none":
		return "", nil
	default:
		abs, err := filepath.Abs(v)
		if err != nil || !IsCheckout(abs) {
			return "", inputErr(fmt.Errorf("%s=%s: expected a coordinator source checkout (go.mod of module %s with cmd/coordinator/ and the modules sdk/ and proto/), or \"off\"", EnvSourceDir, v, coordinator.ModulePath))
		}
		return abs, nil
	}
	if bi, ok := debug.ReadBuildInfo(); ok && (bi.Main.Version == "" || bi.Main.Version == "(devel)") {
		if dir := coordinator.CompiledSourceDir(); dir != "" && IsCheckout(dir) {
			return dir, nil
		}
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		for dir := filepath.Dir(exe); ; dir = filepath.Dir(dir) {
			if IsCheckout(dir) {
				return dir, nil
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	return "", nil
}
