//go:build linux

package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runHelperHost is the body of the helper host process used by
// TestPluginsDieWithSIGKILLedHost: it starts one model and blocks.
func runHelperHost() {
	spec := PluginSpec{ID: "orphan", Path: os.Getenv("HOSTTEST_MODEL"), Env: []string{os.Getenv("HOSTTEST_MARKER_KV")}}
	ms, err := StartModels(context.Background(), []PluginSpec{spec}, Options{})
	if err != nil || !ms.States()[0].Running {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

func TestPluginsDieWithSIGKILLedHost(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOSTTEST_HELPER=host", "HOSTTEST_MODEL="+modelBin, "HOSTTEST_MARKER_KV="+marker)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper host said %q", line)
	}
	var plugins []procInfo
	for _, p := range listProcs() {
		if p.hasEnv(marker) && p.ppid == cmd.Process.Pid {
			plugins = append(plugins, p)
		}
	}
	if len(plugins) != 1 {
		t.Fatalf("expected one plugin child of the helper host, found %v", plugins)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	// Pdeathsig: the plugin dies with the host (the SDK watchdog is the
	// second line of defence); the marker cleanup also checks this.
	if left := waitNoProcs(func(p procInfo) bool { return p.pid == plugins[0].pid }, 5*time.Second); len(left) > 0 {
		t.Fatalf("plugin survived its SIGKILLed host: %v", left)
	}
}
