//go:build linux

package host

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// TestSandboxAttacks runs one hostile model per attack (testdata/plugins/
// attacker) next to three honest models, all sandboxed with small limits,
// for a few Predict rounds. Each attack must fail or be cut off, the
// attacker must be classified (FAILED or CRASHED, with the limit named
// when one killed it) and the honest models must answer every round. A
// mechanism this machine lacks skips only the attacks that need it.
func TestSandboxAttacks(t *testing.T) {
	rep := sandbox.Probe(sandbox.Config{})
	marker := testMarker(t)
	const secret = "s3cret-pw-9f2c"

	ws := t.TempDir() // a workspace readable by anyone: only the sandbox stands in the way
	must(t, os.Chmod(ws, 0o755))
	must(t, os.Chmod(filepath.Dir(ws), 0o755))
	localEnv, dbFile := filepath.Join(ws, ".local.env"), filepath.Join(ws, "node.db")
	must(t, os.WriteFile(localEnv, []byte("DATABASE_URL=postgres://node:"+secret+"@db/node\n"), 0o644))
	must(t, os.WriteFile(dbFile, []byte("SQLite format 3\x00"+secret), 0o644))
	outside := filepath.Join(ws, "written-by-attacker")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()

	const memLimit, procLimit, fileLimit = 256 << 20, 64, 8 << 20
	type attack struct {
		id, why string // why: the mechanism it needs, "" when always present
		have    bool
		args    []string
		check   func(t *testing.T, first CallResult)
	}
	failedOrCrashed := func(t *testing.T, r CallResult) {
		t.Helper()
		if r.Status != StatusFailed && r.Status != StatusCrashed {
			t.Fatalf("expected FAILED or CRASHED, got %s: %v %s", r.Status, r.Err, r.Output)
		}
	}
	attacks := []attack{
		{id: "environ", why: "Landlock filesystem rules", have: rep.Filesystem, args: []string{"-attack", "environ"}, check: failedOrCrashed},
		{id: "read-secrets", why: "Landlock filesystem rules", have: rep.Filesystem, args: []string{"-attack", "read", "-target", localEnv, "-target", dbFile}, check: failedOrCrashed},
		{id: "write-outside", why: "Landlock filesystem rules", have: rep.Filesystem, args: []string{"-attack", "write", "-target", outside}, check: failedOrCrashed},
		{id: "connect", why: "Landlock network rules (ABI >= 4)", have: rep.Network,
			args: []string{"-attack", "connect", "-target", ln.Addr().String(), "-target", "127.0.0.1:5432"}, check: failedOrCrashed},
		{id: "fork", why: "a pids cgroup or the uid drop", have: rep.PidsCgroup != "" || rep.DropUID,
			args: []string{"-attack", "fork", "-count", "10000"}, check: func(t *testing.T, r CallResult) {
				failedOrCrashed(t, r)
				if r.Status == StatusFailed && !strings.Contains(r.Err.Error(), "started ") {
					t.Fatalf("expected the fork loop to be stopped, got %v", r.Err)
				}
			}},
		{id: "alloc", args: []string{"-attack", "alloc", "-bytes", "8589934592"}, have: true, check: func(t *testing.T, r CallResult) {
			failedOrCrashed(t, r)
			if rep.MemoryCgroup != "" && (r.Status != StatusCrashed || !strings.Contains(r.Err.Error(), "memory limit 256 MiB exceeded")) {
				t.Fatalf("expected CRASHED with memory limit 256 MiB exceeded, got %s: %v", r.Status, r.Err)
			}
		}},
		{id: "bigfile", args: []string{"-attack", "bigfile", "-bytes", "10737418240"}, have: true, check: func(t *testing.T, r CallResult) {
			failedOrCrashed(t, r)
			if r.Status == StatusCrashed && !strings.Contains(r.Err.Error(), "file size limit 8 MiB exceeded") {
				t.Fatalf("expected the file size limit to be named, got %v", r.Err)
			}
		}},
	}
	honest := []string{"honest-1", "honest-2", "honest-3"}
	var specs []PluginSpec
	for _, id := range honest {
		specs = append(specs, mspec(marker, id, modelBin, "-name", id))
	}
	for _, a := range attacks {
		if a.have {
			specs = append(specs, mspec(marker, a.id, attackerBin, a.args...))
		}
	}
	opts := testOptions(t)
	opts.CallTimeout = 20 * time.Second
	opts.MaxConsecutiveFailures = -1 // keep every attacker in the game
	opts.Sandbox.Limits = sandbox.Limits{MemoryBytes: memLimit, Processes: procLimit, FileSizeBytes: fileLimit}
	ms, err := StartModels(ctxT(t, 60*time.Second), specs, opts)
	must(t, err)
	t.Cleanup(func() { _ = ms.Close() })

	const rounds = 3
	results := map[string][]CallResult{}
	for i := 0; i < rounds; i++ {
		for _, id := range ms.IDs() {
			_ = ms.WaitReady(ctxT(t, 20*time.Second), id) // a crashed attacker is back before the next round
		}
		for id, r := range ms.Predict(ctxT(t, 60*time.Second), nil, nil) {
			results[id] = append(results[id], r)
			if strings.Contains(string(r.Output), secret) || (r.Err != nil && strings.Contains(r.Err.Error(), secret)) {
				t.Errorf("%s round %d: the secret reached the host: %s %v", id, i, r.Output, r.Err)
			}
		}
	}
	for _, id := range honest {
		for i, r := range results[id] {
			if r.Status != StatusSuccess {
				t.Errorf("honest model %s lost round %d: %s %v", id, i, r.Status, r.Err)
			}
		}
	}
	for _, a := range attacks {
		t.Run(a.id, func(t *testing.T) {
			if !a.have {
				t.Skipf("this machine lacks %s: attack %s not tested", a.why, a.id)
			}
			rs := results[a.id]
			if len(rs) != rounds {
				t.Fatalf("expected %d results, got %d", rounds, len(rs))
			}
			for i, r := range rs {
				if r.Status == StatusSuccess {
					t.Fatalf("round %d: the attack succeeded: %s", i, r.Output)
				}
			}
			t.Logf("first round: %s: %v", rs[0].Status, rs[0].Err)
			a.check(t, rs[0])
		})
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("the attacker wrote %s outside its scratch directory", outside)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
