package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// profileTop runs fn under the CPU profiler of this (host) process and
// returns the top nodes by flat CPU time as `go tool pprof -top` prints
// them. The profile is written to dir/name.pprof.
func profileTop(ctx context.Context, dir, name string, fn func() error) (string, error) {
	path := filepath.Join(dir, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("cpu profile %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("start cpu profile %s: %w", path, err)
	}
	ferr := fn()
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write cpu profile %s: %w", path, err)
	}
	if ferr != nil {
		return "", ferr
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "go", "tool", "pprof", "-top", "-nodecount=15", path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -top %s: %w\n%s", path, err, out)
	}
	// Keep the summary lines ("Duration:", "Showing nodes") and the table.
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), nil
}
