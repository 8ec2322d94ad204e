package scaffold

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	coordinator "github.com/crunch-coordinator/coordinator"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
	"github.com/crunch-coordinator/coordinator/packs"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/<pack>.txt from the generated trees")

// treeListing lists the files of a workspace, one slash path a line,
// sorted; the SDK copy's sdk/ and proto/ contents are summarised so the
// golden files do not change whenever the SDK gains a file.
func treeListing(t *testing.T, ws string) string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(ws, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ws, p)
		rel = filepath.ToSlash(rel)
		for _, sub := range []string{SDKCopyDir + "/sdk/", SDKCopyDir + "/proto/"} {
			if strings.HasPrefix(rel, sub) {
				rel = sub + "..."
			}
		}
		seen[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, 0, len(seen))
	for l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// goCmd runs the go tool in dir with a deadline and fails the test with
// its output on error.
func goCmd(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// TestGeneratedWorkspacesBuildAndPass renders every pack against this
// checkout (go.work uses it), compares the tree with the golden listing and
// runs go vet, go build and go test in the generated modules.
func TestGeneratedWorkspacesBuildAndPass(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated workspaces (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	for _, pack := range []string{"baseline", "realtime", "tournament"} {
		t.Run(pack, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			res, err := Init(context.Background(), Options{Request: Request{Name: "btc-up", Pack: pack}, OutputDir: out, SDK: SDKSource{SourceDir: root, Version: "test"}})
			if err != nil {
				t.Fatal(err)
			}
			got := treeListing(t, res.Workspace)
			golden := filepath.Join("testdata", "golden", pack+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGeneratedWorkspaces -update)", err)
			}
			if got != string(want) {
				t.Fatalf("generated tree differs from %s (run with -update if intended):\n--- got\n%s--- want\n%s", golden, got, want)
			}
			work, err := os.ReadFile(filepath.Join(res.Workspace, "go.work"))
			for _, m := range coordinator.SDKModules {
				if err != nil || !strings.Contains(string(work), "\t"+filepath.Join(root, m)+"\n") {
					t.Fatalf("go.work does not use the checkout's module %s/%s:\n%s", root, m, work)
				}
			}
			env := []string{"GOWORK=" + filepath.Join(res.Workspace, "go.work"), "GOFLAGS=-buildvcs=false"}
			goCmd(t, res.ChallengeDir, env, "vet", "./...")
			goCmd(t, res.ChallengeDir, env, "test", "-count=1", "./...")
			goCmd(t, res.NodeDir, env, "build", "./...")
		})
	}
	// The copy mode: go.work uses .coordinator/sdk, written from the
	// binary's embedded SDK; the dependencies come from the module cache.
	t.Run("sdk-copy", func(t *testing.T) {
		t.Parallel()
		res, err := Init(context.Background(), Options{Request: Request{Name: "9lives"}, OutputDir: t.TempDir(), SDK: SDKSource{Version: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		work, err := os.ReadFile(filepath.Join(res.Workspace, "go.work"))
		for _, m := range coordinator.SDKModules {
			if err != nil || !strings.Contains(string(work), "\t./.coordinator/sdk/"+m+"\n") {
				t.Fatalf("go.work does not use the SDK copy's module %s:\n%s", m, work)
			}
		}
		// -mod=mod is refused in workspace mode; the default (readonly)
		// proves the copy's go.mod and go.sum are complete.
		env := []string{"GOWORK=" + filepath.Join(res.Workspace, "go.work"), "GOFLAGS=-buildvcs=false"}
		goCmd(t, res.ChallengeDir, env, "build", "./...")
		// The workspace depends on what a plugin author needs, not on the
		// coordinator's own dependencies.
		cmd := exec.Command("go", "list", "-m", "all")
		cmd.Dir = res.ChallengeDir
		cmd.Env = append(os.Environ(), env...)
		mods, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -m all: %v\n%s", err, mods)
		}
		for _, dep := range []string{"github.com/jackc/pgx", "modernc.org/sqlite", "github.com/spf13/cobra", "github.com/pressly/goose"} {
			if strings.Contains(string(mods), dep) {
				t.Errorf("the workspace's build list holds %s, a dependency of the coordinator only:\n%s", dep, mods)
			}
		}
	})
}

// TestWithExtension renders each example extension against this checkout:
// its files are in the node's extensions/, its factory is selected in
// config/callables.env, go.work uses the checkout's root module, and the
// extension's tests pass. The SDK copy mode refuses --with-extension.
func TestWithExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated workspaces (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	for _, ext := range packs.Extensions {
		t.Run(ext.ID, func(t *testing.T) {
			res, err := Init(context.Background(), Options{Request: Request{Name: "btc-up", Extension: ext.ID}, OutputDir: t.TempDir(), SDK: SDKSource{SourceDir: root, Version: "test"}})
			if err != nil {
				t.Fatal(err)
			}
			call, err := os.ReadFile(filepath.Join(res.NodeDir, "config", "callables.env"))
			if err != nil || !strings.Contains(string(call), "\n"+ext.Var+"="+ext.Factory+"\n") {
				t.Fatalf("callables.env does not select %s=%s: %v\n%s", ext.Var, ext.Factory, err, call)
			}
			work, err := os.ReadFile(filepath.Join(res.Workspace, "go.work"))
			if err != nil || !strings.Contains(string(work), "\t"+root+"\n") {
				t.Fatalf("go.work does not use the checkout's root module %s: %v\n%s", root, err, work)
			}
			env := []string{"GOWORK=" + filepath.Join(res.Workspace, "go.work"), "GOFLAGS=-buildvcs=false"}
			goCmd(t, res.NodeDir, env, "vet", "./extensions")
			goCmd(t, res.NodeDir, env, "test", "-count=1", "./extensions")
		})
	}
	_, err := Init(context.Background(), Options{Request: Request{Name: "btc-up", Extension: "custom-report"}, OutputDir: t.TempDir(), SDK: SDKSource{Version: "test"}})
	if err == nil || !strings.Contains(err.Error(), "COORDINATOR_SOURCE_DIR") {
		t.Errorf("--with-extension with the SDK copy: %v", err)
	}
	_, err = Init(context.Background(), Options{Request: Request{Name: "btc-up", Extension: "nope"}, OutputDir: t.TempDir(), SDK: SDKSource{SourceDir: root, Version: "test"}})
	if err == nil || !strings.Contains(err.Error(), `unknown extension "nope" (expected one of: custom-report, tournament-rounds)`) {
		t.Errorf("unknown extension: %v", err)
	}
}
