package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/redact"
)

// copyBinary copies src to dir/name with mode 0555 (as pluginbuild leaves
// built plugins) and returns the path and its SHA-256.
func copyBinary(t *testing.T, src, dir, name string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o555); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, sum
}

// An attacker overwrites another model's binary and makes it exit: the
// victim's restart is refused (BAD_IMPLEMENTATION, stopped for good) with
// an error naming the file and both checksums, and the three honest
// models lose no answer. The test plays the attacker's write itself (the
// sandbox, when present, forbids it to the plugin); what is tested is the
// verification before every restart.
func TestAttackSwappedBinaryRefusedAtRestart(t *testing.T) {
	marker := testMarker(t)
	dir := t.TempDir()
	var specs []PluginSpec
	for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
		p, sum := copyBinary(t, modelBin, dir, id)
		s := mspec(marker, id, p, "-name", id)
		s.SHA256 = sum
		specs = append(specs, s)
	}
	victim, victimSum := copyBinary(t, modelBin, dir, "victim")
	// It exits on its first call (a crash-once marker outside the scratch
	// directory could not be written in the sandbox; the swap comes first
	// anyway, so the first restart is the one refused).
	vs := mspec(marker, "victim", victim, "-name", "victim", "-mode", "exit")
	vs.SHA256 = victimSum
	specs = append(specs, vs)

	opts := testOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set, err := StartModels(ctx, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })

	// The attack: the victim's binary becomes another program (replaced,
	// as a running executable cannot be written in place).
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	evil, err := os.ReadFile(rawModelBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, evil, 0o755); err != nil {
		t.Fatal(err)
	}
	evilSum, _ := FileSHA256(victim)

	args := []json.RawMessage{json.RawMessage(`1`)}
	var victimState ModelState
	for round := 0; round < 6; round++ {
		res := set.Predict(ctx, args, nil)
		for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
			if r := res[id]; r.Status != StatusSuccess {
				t.Fatalf("round %d: honest model %s: %s %v", round, id, r.Status, r.Err)
			}
		}
		for _, st := range set.States() {
			if st.ID == "victim" {
				victimState = st
			}
		}
		if victimState.Stopped {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !victimState.Stopped || victimState.Reason != StopBadImplementation {
		t.Fatalf("victim state %+v, want stopped for BAD_IMPLEMENTATION", victimState)
	}
	for _, want := range []string{victim, victimSum, evilSum} {
		if !strings.Contains(victimState.LastError, want) {
			t.Errorf("victim error %q does not name %s", victimState.LastError, want)
		}
	}
	// And the swapped binary never ran: a direct launch is refused too.
	if err := CheckBinary(victim, victimSum); !errors.Is(err, ErrChecksumPin) {
		t.Errorf("CheckBinary: %v, want ErrChecksumPin", err)
	}
}

// A pinned model whose binary differs never starts; the others do.
func TestPinnedBinaryMismatchNeverStarts(t *testing.T) {
	marker := testMarker(t)
	dir := t.TempDir()
	good, sum := copyBinary(t, modelBin, dir, "good")
	other, _ := copyBinary(t, rawModelBin, dir, "pinned")
	gs := mspec(marker, "good", good)
	gs.SHA256 = sum
	ps := mspec(marker, "pinned", other)
	ps.SHA256 = strings.ToUpper(sum) // the pin of another binary (case-insensitive)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set, err := StartModels(ctx, []PluginSpec{gs, ps}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	res := set.Predict(ctx, []json.RawMessage{json.RawMessage(`1`)}, nil)
	if res["good"].Status != StatusSuccess {
		t.Fatalf("good: %s %v", res["good"].Status, res["good"].Err)
	}
	if res["pinned"].Status == StatusSuccess {
		t.Fatalf("pinned model with another binary answered")
	}
	for _, st := range set.States() {
		if st.ID == "pinned" && (!st.Stopped || !strings.Contains(st.LastError, sum) || !strings.Contains(st.LastError, other)) {
			t.Errorf("pinned state %+v, want stopped naming the file and the pin", st)
		}
	}
}

func TestPythonCodeSHA256(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.py", "x = 1\n")
	write("pkg/util.py", "y = 2\n")
	write("__pycache__/main.cpython-311.py", "ignored")
	write(".venv/lib.py", "ignored")
	write("notes.txt", "ignored")
	a, err := PythonCodeSHA256(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The documented shell equivalent.
	fa, _ := FileSHA256(filepath.Join(dir, "main.py"))
	fb, _ := FileSHA256(filepath.Join(dir, "pkg", "util.py"))
	listing := fa + "  ./main.py\n" + fb + "  ./pkg/util.py\n"
	lp := filepath.Join(t.TempDir(), "listing")
	if err := os.WriteFile(lp, []byte(listing), 0o644); err != nil {
		t.Fatal(err)
	}
	if want, _ := FileSHA256(lp); a != want {
		t.Fatalf("PythonCodeSHA256 %s, want the sha256sum of the listing %s", a, want)
	}
	write("notes.txt", "changed, still ignored")
	if b, _ := PythonCodeSHA256(dir); b != a {
		t.Fatal("a non-.py file changed the checksum")
	}
	write("pkg/util.py", "y = 3\n")
	if c, _ := PythonCodeSHA256(dir); c == a {
		t.Fatal("an edited .py file kept the checksum")
	}
}

// A model answering 10 MiB per call gets FAILED results "output N bytes
// exceeds limit" (the message is refused from its length prefix, never
// buffered), and counts toward MULTIPLE_FAILED; one just over the limit
// gets its exact size; the honest models answer every call.
func TestAttackOversizedOutputIsFailed(t *testing.T) {
	marker := testMarker(t)
	specs := []PluginSpec{
		mspec(marker, "huge", modelBin, "-mode", "bigout", "-size", strconv.Itoa(10<<20)),
		mspec(marker, "over", modelBin, "-mode", "bigout", "-size", strconv.Itoa(DefaultMaxOutputBytes+100)),
	}
	for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
		specs = append(specs, mspec(marker, id, modelBin, "-name", id))
	}
	opts := testOptions(t)
	opts.MaxConsecutiveFailures = 2
	opts.CooldownMin, opts.CooldownMax = time.Hour, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set, err := StartModels(ctx, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	for round := 0; round < 3; round++ {
		res := set.Predict(ctx, []json.RawMessage{json.RawMessage(`1`)}, nil)
		for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
			if res[id].Status != StatusSuccess {
				t.Fatalf("round %d: honest %s: %s %v", round, id, res[id].Status, res[id].Err)
			}
		}
		h := res["huge"]
		if h.Status != StatusFailed || !errors.Is(h.Err, ErrInvalidOutput) || !strings.Contains(h.Err.Error(), "exceeds limit 65536") || h.Output != nil {
			t.Fatalf("round %d: huge: %s %v (output %d bytes), want FAILED exceeds limit", round, h.Status, h.Err, len(h.Output))
		}
		if len(h.Err.Error()) > 1024 {
			t.Fatalf("huge: error of %d bytes", len(h.Err.Error()))
		}
		o := res["over"]
		if o.Status != StatusFailed || !strings.Contains(o.Err.Error(), "output "+strconv.Itoa(DefaultMaxOutputBytes+100+2)+" bytes exceeds limit 65536") {
			t.Fatalf("round %d: over: %s %v", round, o.Status, o.Err)
		}
	}
	for _, st := range set.States() {
		if st.ID == "huge" && !st.CoolingDown {
			t.Errorf("huge after 3 oversized answers: %+v, want cooling down (MULTIPLE_FAILED)", st)
		}
	}
}

// A model writing 1 MiB to stderr per call (and a secret) gets its output
// rate-limited with a "suppressed N lines (M bytes)" line; the secret is
// hidden by the node's redacting log writer; the log stays bounded and the
// honest models answer every call.
func TestAttackStderrFloodIsBoundedAndRedacted(t *testing.T) {
	marker := testMarker(t)
	const secret = "pg-pass-s3cret-value"
	noisy := mspec(marker, "noisy", modelBin, "-mode", "noisy", "-size", strconv.Itoa(1<<20))
	noisy.Env = append(noisy.Env, "NOISY_SECRET="+secret)
	specs := []PluginSpec{noisy}
	for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
		specs = append(specs, mspec(marker, id, modelBin, "-name", id))
	}
	var buf syncBuffer
	opts := testOptions(t)
	opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "node", Level: hclog.Info, JSONFormat: true, Output: redact.NewWriter(&buf, secret)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set, err := StartModels(ctx, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	for round := 0; round < rounds; round++ {
		res := set.Predict(ctx, []json.RawMessage{json.RawMessage(`1`)}, nil)
		for _, id := range []string{"honest-1", "honest-2", "honest-3"} {
			if res[id].Status != StatusSuccess {
				t.Fatalf("round %d: honest %s: %s %v", round, id, res[id].Status, res[id].Err)
			}
		}
	}
	_ = set.Close() // flushes the suppression summary
	log := buf.String()
	// 3 MiB written; at most one window's budget per second of run plus
	// the log lines of the run itself get through.
	if limit := 1 << 20; len(log) > limit {
		t.Errorf("log is %d bytes after %d MiB of stderr, want under %d", len(log), rounds, limit)
	}
	if !strings.Contains(log, "suppressed ") || !strings.Contains(log, " lines (") {
		t.Errorf("no suppression line in the log:\n%.2000s", log)
	}
	if strings.Contains(log, secret) {
		t.Errorf("the secret reached the log")
	}
	if !strings.Contains(log, "leaking "+redact.Mask) {
		t.Errorf("the plugin's line with the secret was not logged redacted:\n%.2000s", log)
	}
}
