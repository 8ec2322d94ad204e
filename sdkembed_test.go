package coordinator

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

// TestSDKFiles checks the mounted file system with the standard file
// system checks and that each module folder holds its go.mod.
func TestSDKFiles(t *testing.T) {
	files := SDKFiles()
	if err := fstest.TestFS(files, "sdk/go.mod", "sdk/go.sum", "sdk/doc.go", "sdk/wire/challenge.go",
		"proto/go.mod", "proto/challenge/v1/challenge.proto"); err != nil {
		t.Fatal(err)
	}
	for _, m := range SDKModules {
		b, err := fs.ReadFile(files, m+"/go.mod")
		if err != nil {
			t.Fatalf("%s/go.mod: %v", m, err)
		}
		if want := "module " + ModulePath + "/" + m + "\n"; len(b) < len(want) || string(b[:len(want)]) != want {
			t.Errorf("%s/go.mod starts %q, want %q", m, b[:min(len(b), 80)], want)
		}
	}
	if _, err := fs.Stat(files, "internal"); err == nil {
		t.Error("SDKFiles holds internal/: only the SDK and proto modules belong in it")
	}
}
