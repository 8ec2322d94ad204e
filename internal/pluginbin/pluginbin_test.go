package pluginbin

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/pluginlock"
)

func TestTargetsLayout(t *testing.T) {
	node := filepath.Join(t.TempDir(), "ws", "crunch-node-x")
	ws := &config.Workspace{NodeDir: node,
		Callables: config.Callables{ChallengePlugin: "/src/crunch-x/cmd/challenge"},
		Models:    []config.ModelConfig{{ID: "m1", Path: "/src/crunch-x/examples/a", Runtime: config.RuntimeGo}, {ID: "m2", Path: "/src/crunch-x/examples/b", Runtime: config.RuntimeGo}}}
	bins, targets := Targets(ws)
	if bins.Challenge != filepath.Join(node, ".coordinator", "bin", "challenge") || bins.Models["m2"] != filepath.Join(node, ".coordinator", "bin", "models", "m2") {
		t.Fatalf("binaries %+v", bins)
	}
	if len(targets) != 3 || targets[0].Dir != "/src/crunch-x/cmd/challenge" || targets[2].Name != "model m2" || targets[2].Out != bins.Models["m2"] {
		t.Fatalf("targets %+v", targets)
	}
	if ChallengeTarget(ws) != targets[0] || ModelTarget(ws, ws.Models[0]) != targets[1] {
		t.Fatal("single-target helpers disagree with Targets")
	}
}

func TestWorkUsesOutsideRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	work := "go 1.26.0\n\nuse (\n\t./crunch-x\n\t./crunch-node-x\n\t../checkout\n\t/abs/coordinator\n)\n"
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}
	got := WorkUses(root)
	want := []string{filepath.Join(base, "checkout"), "/abs/coordinator"}
	if !slices.Equal(got, want) {
		t.Fatalf("WorkUses = %v, want %v", got, want)
	}
	opts := BuildOptions(filepath.Join(root, "crunch-node-x"), nil)
	if opts.WorkDir != root || !slices.Equal(opts.Roots, append([]string{root}, want...)) || !slices.Contains(opts.Env, "GOFLAGS=") {
		t.Fatalf("BuildOptions = %+v", opts)
	}
	if WorkUses(base) != nil {
		t.Fatal("no go.work should yield nil")
	}
}

func TestBuildOptionsFingerprintsSDKCopy(t *testing.T) {
	root := t.TempDir()
	node := filepath.Join(root, "crunch-node-x")
	if err := os.MkdirAll(layout.Of(node).SDKCopy(), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := BuildOptions(node, nil)
	found := false
	for _, r := range opts.Roots {
		if r == layout.Of(node).SDKCopy() {
			found = true
		}
	}
	if !found {
		t.Fatalf("roots %v do not include the SDK copy", opts.Roots)
	}
}

// Record writes the lock file: a binary built now or not yet recorded gets
// its checksum; an unchanged record is kept even when the file changed
// (the host then refuses it), and the pin wins over the record.
func TestRecordLockFile(t *testing.T) {
	node := filepath.Join(t.TempDir(), "ws", "crunch-node-x")
	ws := &config.Workspace{NodeDir: node, Callables: config.Callables{ChallengePlugin: "/src/c"},
		Models: []config.ModelConfig{{ID: "m1", Path: "/src/m1", Runtime: config.RuntimeGo}}}
	_, targets := Targets(ws)
	write := func(p, body string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(p)
		if err := os.WriteFile(p, []byte(body), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	write(targets[0].Out, "challenge v1")
	write(targets[1].Out, "model v1")
	sums, err := Record(node, targets, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := host.FileSHA256(targets[1].Out)
	if sums[targets[1].Out] != v1 {
		t.Fatalf("recorded %v, want %s for the model", sums, v1)
	}
	lock, err := pluginlock.Load(layout.Of(node).PluginsLock())
	if err != nil || lock.Plugins["model m1"] != (pluginlock.Entry{Path: ".coordinator/bin/models/m1", SHA256: v1}) {
		t.Fatalf("lock %+v (%v)", lock, err)
	}
	// Swapped without a build: the record stays (the host will refuse it).
	write(targets[1].Out, "model swapped")
	if sums, _ = Record(node, targets, nil); sums[targets[1].Out] != v1 {
		t.Fatalf("a binary changed without a build was re-recorded: %v", sums)
	}
	// Rebuilt: recorded again.
	write(targets[1].Out, "model v2")
	v2, _ := host.FileSHA256(targets[1].Out)
	if sums, _ = Record(node, targets, map[string]bool{targets[1].Out: true}); sums[targets[1].Out] != v2 {
		t.Fatalf("rebuilt binary not recorded: %v", sums)
	}
	if Expected("", v2) != v2 || Expected("pin", v2) != "pin" {
		t.Fatal("Expected: the pin must win over the record")
	}
}
