package extbuild

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestRunExitCodes runs real child processes through Run: their exit code
// is passed on, and a child that exits 0 after the SIGTERM sent on
// cancellation is a clean shutdown, not an error.
func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		cancel   time.Duration // 0: never cancelled
		wantCode int
	}{
		{"success", "exit 0", 0, 0},
		{"exit code passed on", "exit 3", 0, 3},
		{"clean exit after SIGTERM", `trap 'exit 0' TERM; sleep 30 & wait`, 300 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			code, err := Run(ctx, "/bin/sh", []string{"-c", tt.script}, t.TempDir(), nil, io.Discard, io.Discard, 5*time.Second)
			if err != nil || code != tt.wantCode {
				t.Fatalf("Run = (%d, %v), want (%d, nil)", code, err, tt.wantCode)
			}
		})
	}
}
