package modelrunner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testPython returns an interpreter with grpcio and protobuf, or skips.
func testPython(t *testing.T) PythonInfo {
	t.Helper()
	py, err := FindPython(context.Background(), os.Getenv(EnvPython))
	if err != nil {
		t.Skipf("needs %v", err)
	}
	return py
}

// TestPythonVariantGoldenBytes checks the Python runner's encoder and
// decoder (sdk/python/coordinator_runner/variant.py) against the same
// golden bytes as the Go side.
func TestPythonVariantGoldenBytes(t *testing.T) {
	py := testPython(t)
	script := `
import json, sys
from coordinator_runner import variant
from coordinator_runner._proto import commons_pb2
bad = []
for g in json.load(open(sys.argv[1])):
    if not g.get("python"):
        continue
    want = bytes.fromhex(g["hex"].replace(" ", ""))
    got = variant.encode(json.loads(g["arg"])).SerializeToString(deterministic=True)
    if got != want:
        bad.append("%s: encode %s, want %s" % (g["name"], got.hex(), want.hex()))
    back = commons_pb2.Variant.FromString(want)
    if variant.decode(back) != json.loads(g["decoded"]):
        bad.append("%s: decode %r" % (g["name"], variant.decode(back)))
none = variant.encode(None).SerializeToString()
if none != b"":
    bad.append("NONE: %s" % none.hex())
print("\n".join(bad))
sys.exit(1 if bad else 0)
`
	golden, _ := filepath.Abs("testdata/variants.json")
	cmd := exec.Command(py.Path, "-c", script, golden)
	cmd.Dir = filepath.Join("..", "..", "sdk", "python")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Python variant golden check: %v\n%s", err, out)
	}
}

func TestFindPythonAndRunnerDir(t *testing.T) {
	py := testPython(t)
	if py.GRPC == "" || py.Protobuf == "" || !filepath.IsAbs(py.Path) {
		t.Fatalf("FindPython = %+v", py)
	}
	if _, err := FindPython(context.Background(), "/nonexistent/python3"); err == nil || !strings.Contains(err.Error(), "apt-get install python3-grpcio") {
		t.Fatalf("missing interpreter: %v", err)
	}
	cache := t.TempDir()
	dir, err := RunnerDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	again, err := RunnerDir(cache)
	if err != nil || again != dir {
		t.Fatalf("second RunnerDir = %s, %v; want %s", again, err, dir)
	}
	cmd := exec.Command(py.Path, "-m", "coordinator_runner", "--help")
	cmd.Env = []string{"PYTHONPATH=" + dir, "PYTHONDONTWRITEBYTECODE=1"}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--base-class") && !strings.Contains(string(out), "--code") {
		t.Fatalf("embedded runner --help: %v\n%s", err, out)
	}
}
