package pluginbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeModule(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/p\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "p", "main.go"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildSkipsUnchangedAndRebuildsChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	writeModule(t, dir, "package main\n\nfunc main() { println(\"one\") }\n")
	target := Target{Name: "p", Dir: filepath.Join(dir, "cmd", "p"), Out: filepath.Join(dir, "bin", "p")}
	var phases []string
	opts := Options{WorkDir: dir, Roots: []string{dir}, Env: []string{"GOFLAGS=-mod=mod", "GOWORK=off"}, Progress: func(e Event) { phases = append(phases, e.Phase) }}
	ctx := context.Background()
	if err := Build(ctx, []Target{target}, opts); err != nil {
		t.Fatal(err)
	}
	if err := Build(ctx, []Target{target}, opts); err != nil {
		t.Fatal(err)
	}
	// Change the source (new size and mtime): rebuild.
	later := time.Now().Add(2 * time.Second)
	writeModule(t, dir, "package main\n\nfunc main() { println(\"two, changed\") }\n")
	_ = os.Chtimes(filepath.Join(dir, "cmd", "p", "main.go"), later, later)
	if err := Build(ctx, []Target{target}, opts); err != nil {
		t.Fatal(err)
	}
	want := "build,done,skip,build,done"
	if got := strings.Join(phases, ","); got != want {
		t.Fatalf("phases %s, want %s", got, want)
	}
	out, err := exec.Command(target.Out).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "two, changed") {
		t.Fatalf("rebuilt binary printed %q (%v)", out, err)
	}
	// A rebuild replaced the read-only binary; it is read-only again.
	if st, err := os.Stat(target.Out); err != nil || st.Mode().Perm() != BinaryMode {
		t.Fatalf("binary mode %v (%v), want %v", st.Mode().Perm(), err, BinaryMode)
	}
	if _, err := os.Stat(target.Out + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary output left behind: %v", err)
	}
}

func TestBuildErrorsNamePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := t.TempDir()
	writeModule(t, dir, "package main\n\nfunc main() { undefinedThing() }\n")
	cases := []struct {
		name   string
		target Target
		want   string
	}{
		{"compile error", Target{Name: "broken", Dir: filepath.Join(dir, "cmd", "p"), Out: filepath.Join(dir, "bin", "b")}, "undefinedThing"},
		{"missing dir", Target{Name: "ghost", Dir: filepath.Join(dir, "nope"), Out: filepath.Join(dir, "bin", "g")}, "expected a Go main package directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Build(context.Background(), []Target{c.target}, Options{WorkDir: dir, Roots: []string{dir}, Env: []string{"GOWORK=off"}})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.target.Name) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestBuildRefusesOutputOutsideOutDir(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, ".coordinator", "bin")
	for _, out := range []string{filepath.Join(bin, "models", "..", "..", "x"), filepath.Join(dir, "tmp", "x"), bin} {
		err := Build(context.Background(), []Target{{Name: "model evil", Dir: dir, Out: out}}, Options{WorkDir: dir, OutDir: bin})
		if err == nil || !strings.Contains(err.Error(), "outside "+bin) || !strings.Contains(err.Error(), "model evil") {
			t.Errorf("out %s: want a refusal naming the plugin and %s, got %v", out, bin, err)
		}
	}
	if within(bin, filepath.Join(bin, "models", "m1")) != true {
		t.Error("a model binary under bin/ must be accepted")
	}
}
