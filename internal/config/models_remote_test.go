package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseModelsRemote: an "address" entry is a remote model (runtime
// remote, no path); wrong addresses and mixed entries are refused with the
// entry and key named.
func TestParseModelsRemote(t *testing.T) {
	p := filepath.Join(t.TempDir(), "models.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"id": "r1", "address": "10.0.0.5:50051", "name": "Remote one"},
	        {"id": "r2", "address": "model.example:443", "runtime": "remote"},
	        {"id": "g", "path": "models/g"}]`)
	ms, err := ParseModels(p, "/w/node")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Runtime != RuntimeRemote || ms[0].Address != "10.0.0.5:50051" || ms[0].Path != "" || ms[0].Name != "Remote one" || ms[0].PlayerID != "local" {
		t.Fatalf("r1: %+v", ms[0])
	}
	if ms[1].Runtime != RuntimeRemote || ms[1].Name != "r2" {
		t.Fatalf("r2: %+v", ms[1])
	}
	if ms[2].Runtime != RuntimeGo || ms[2].Path != "/w/node/models/g" {
		t.Fatalf("g: %+v", ms[2])
	}
	for _, tc := range []struct{ json, want string }{
		{`[{"id": "x", "address": "http://h:1"}]`, "models[0].address: expected host:port without a scheme"},
		{`[{"id": "x", "address": "h"}]`, "models[0].address: expected host:port"},
		{`[{"id": "x", "address": "h:0"}]`, "port 1-65535"},
		{`[{"id": "x", "address": ":50051"}]`, "with a host"},
		{`[{"id": "x", "address": "h:1", "path": "m"}]`, "models[0]: has both path and address"},
		{`[{"id": "x", "address": "h:1", "runtime": "python"}]`, `models[0].runtime: "python" cannot have an address`},
		{`[{"id": "x", "runtime": "remote"}]`, "models[0].address: required for a remote model"},
		{`[{"id": "x", "adress": "h:1"}]`, `did you mean "address"?`},
	} {
		write(tc.json)
		if _, err := ParseModels(p, "/w"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: expected an error containing %q, found %v", tc.json, tc.want, err)
		}
	}
}
