package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Pinned generator versions; keep in sync with the Makefile.
const (
	protocGenGoVersion     = "v1.36.12"
	protocGenGoGRPCVersion = "v1.5.1"
)

var protoFiles = []string{"challenge/v1/challenge.proto", "model/v1/model.proto", "hostdata/v1/hostdata.proto"}

// protocVersionLine is the only line allowed to differ: it records the
// local protoc version.
var protocVersionLine = regexp.MustCompile(`(?m)^// \s*protoc\s+v?[0-9.]+.*$`)

// TestGeneratedCodeIsFresh regenerates the Go code into a temporary
// directory with the pinned generators and compares it with the committed
// files. It skips when protoc is not installed (CI installs it).
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed (apt-get install protobuf-compiler); generated code not checked")
	}
	bin := t.TempDir()
	for _, tool := range []string{
		"google.golang.org/protobuf/cmd/protoc-gen-go@" + protocGenGoVersion,
		"google.golang.org/grpc/cmd/protoc-gen-go-grpc@" + protocGenGoGRPCVersion,
	} {
		cmd := exec.Command("go", "install", tool)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go install %s: %v\n%s", tool, err, out)
		}
	}
	out := t.TempDir()
	args := []string{"-I", ".", "--go_out=" + out, "--go_opt=paths=source_relative",
		"--go-grpc_out=" + out, "--go-grpc_opt=paths=source_relative"}
	cmd := exec.Command(protoc, append(args, protoFiles...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	// The model-runner protocol is rooted at modelrunner/ (its imports are
	// "commons.proto", as in CrunchDAO's files) and written by Go package path.
	mrArgs := []string{"-I", "modelrunner", "--go_out=" + out, "--go_opt=module=" + modulePath,
		"--go-grpc_out=" + out, "--go-grpc_opt=module=" + modulePath}
	cmd = exec.Command(protoc, append(mrArgs, modelRunnerFiles...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc (model runner): %v\n%s", err, b)
	}
	for _, rel := range modelRunnerGo {
		compareGenerated(t, filepath.Join(out, "proto", rel), rel)
	}
	for _, pf := range protoFiles {
		base := strings.TrimSuffix(pf, ".proto")
		for _, suffix := range []string{".pb.go", "_grpc.pb.go"} {
			rel := base + suffix
			compareGenerated(t, filepath.Join(out, rel), rel)
		}
	}
}

// Model-runner protocol files (reference-system.md §6.1) and their Go output.
var (
	modulePath       = "github.com/crunch-coordinator/coordinator"
	modelRunnerFiles = []string{"commons.proto", "dynamic_subclass.proto"}
	modelRunnerGo    = []string{
		"modelrunner/commonspb/commons.pb.go",
		"modelrunner/dynamicsubclasspb/dynamic_subclass.pb.go",
		"modelrunner/dynamicsubclasspb/dynamic_subclass_grpc.pb.go",
	}
)

// compareGenerated fails when the committed file rel (relative to proto/)
// differs from the fresh output at path, except for the protoc version line.
func compareGenerated(t *testing.T, path, rel string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("generated %s: %v", rel, err)
	}
	got, err := os.ReadFile(rel)
	if err != nil {
		t.Fatalf("committed %s missing: %v (run `make proto`)", rel, err)
	}
	if !bytes.Equal(protocVersionLine.ReplaceAll(got, nil), protocVersionLine.ReplaceAll(want, nil)) {
		t.Errorf("proto/%s is stale: run `make proto` and commit the result", rel)
	}
}

// pythonGRPC is the interpreter whose grpc_tools writes the Python service
// stubs (Debian's python3-grpc-tools); keep in sync with the Makefile.
const pythonGRPC = "/usr/bin/python3"

// TestPythonStubsAreFresh regenerates the Python stubs of the local model
// runner (sdk/python/coordinator_runner/_proto) as `make proto` does and
// compares them with the committed files. It skips when protoc or
// grpc_tools is missing.
func TestPythonStubsAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed")
	}
	if err := exec.Command(pythonGRPC, "-c", "import grpc_tools.protoc").Run(); err != nil {
		t.Skip("python3-grpc-tools not installed (apt-get install python3-grpc-tools); Python stubs not checked")
	}
	out := t.TempDir()
	run := func(name string, args ...string) {
		if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
	}
	run(protoc, "-I", "modelrunner", "--python_out="+out, "commons.proto", "dynamic_subclass.proto", "health.proto")
	run(pythonGRPC, "-m", "grpc_tools.protoc", "-I", "modelrunner", "-I", "/usr/include", "--grpc_python_out="+out, "dynamic_subclass.proto", "health.proto")
	topImport := regexp.MustCompile(`(?m)^import (commons_pb2|dynamic_subclass_pb2|health_pb2) as `)
	committed := filepath.Join("..", "sdk", "python", "coordinator_runner", "_proto")
	for _, name := range []string{"commons_pb2.py", "dynamic_subclass_pb2.py", "dynamic_subclass_pb2_grpc.py", "health_pb2.py", "health_pb2_grpc.py"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("generated %s: %v", name, err)
		}
		want = topImport.ReplaceAll(want, []byte("from . import $1 as "))
		got, err := os.ReadFile(filepath.Join(committed, name))
		if err != nil {
			t.Fatalf("committed %s missing: %v (run `make proto`)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make proto` and commit the result", filepath.Join(committed, name))
		}
	}
}
