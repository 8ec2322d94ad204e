package devrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartCPUProfile(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == ProfileEnv {
				return v
			}
			return ""
		}
	}
	stop, err := startCPUProfile(env(""))
	if err != nil {
		t.Fatalf("unset: %v", err)
	}
	stop()

	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err = startCPUProfile(env(path))
	if err != nil {
		t.Fatalf("set: %v", err)
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: expected a non-empty file, found %v (err %v)", path, fi, err)
	}

	bad := filepath.Join(t.TempDir(), "missing", "cpu.prof")
	if _, err := startCPUProfile(env(bad)); err == nil || !strings.Contains(err.Error(), ProfileEnv) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad path: expected an error naming %s and %s, found %v", ProfileEnv, bad, err)
	}
}
