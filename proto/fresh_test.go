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
	for _, pf := range protoFiles {
		base := strings.TrimSuffix(pf, ".proto")
		for _, suffix := range []string{".pb.go", "_grpc.pb.go"} {
			rel := base + suffix
			want, err := os.ReadFile(filepath.Join(out, rel))
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
	}
}
