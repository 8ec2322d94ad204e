// Package testutil holds helpers shared by the test suites: finding the
// repository and the shared market data, free local addresses, and a
// goroutine-safe output buffer. Only tests import it.
package testutil

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// SharedCSVName is the file name of the shared BTC candles.
const SharedCSVName = "binance-us-BTCUSDT-1m-2023-03-01..21.csv"

// RepoRoot walks up from the working directory to the folder holding
// go.mod and fails the test when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = filepath.Dir(dir)
	}
}

// SharedCSV returns the path of the shared candles, ../shared/data beside
// the repository, and skips the test when the file is not there (a
// checkout without the shared folder).
func SharedCSV(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", "data", SharedCSVName)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared market data not found at %s: %v", p, err)
	}
	return p
}

// FreeAddr returns a 127.0.0.1:port address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (loggers,
// printers and plugin output in the same test).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
