package devrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/crunch-coordinator/coordinator/internal/layout"
)

// lockWorkspace takes the lock `coordinator dev` holds on a node workspace
// while it runs (layout.Layout.DevLock), so two dev runs never share one
// database and plugin directory, or says which process holds it. The lock
// is an flock(2): the kernel releases it when the process exits, even on
// SIGKILL.
func lockWorkspace(nodeDir string) (unlock func(), err error) {
	path := layout.Of(nodeDir).DevLock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the workspace lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another `coordinator dev` is running in %s (%s); stop it first, or run this one from another workspace",
				nodeDir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "pid %d\n", os.Getpid())
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
