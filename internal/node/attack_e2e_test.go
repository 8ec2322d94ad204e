package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/sandbox"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/serve"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// The attack replay: an hour of the shared candles (60 slots).
var (
	attackStart = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC) // the file's first candle
	attackRun   = 60 * time.Minute
)

// attackSecret is the value of the node's ADMIN_API_KEY (a secret setting,
// config.Secrets). The stderr attacker echoes it as if it had guessed or
// leaked it elsewhere: the sandbox keeps it from reading it itself.
const attackSecret = "s3cr3t-admin-key-7f1c9e2ab04d"

// attackMarker fills the attackers' outputs: a run of it in an API answer
// or a stored row longer than the stored head means unbounded output.
const attackMarker = "ATTACKPAD"

// attackModelSource is one binary for every attacker: its behaviour is the
// base name of the path it runs as (the host runs each model's binary by
// its path). %[1]q is the secret, %[2]q the node's .local.env, %[3]d the
// host's pid.
const attackModelSource = `// Command attack is the adversarial model of the attack end-to-end test.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	challenge "crunch-btc-up"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type honest struct{}

func (honest) PredictUp(context.Context, challenge.Question, []challenge.Candle) (float64, error) {
	return 0.5, nil
}

type attacker struct {
	sdk.Model
	mode string
}

func pad(n int) string { return strings.Repeat("` + attackMarker + `", n/9+1)[:n] }

func (a *attacker) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	switch a.mode {
	case "attack-bigout":
		return json.RawMessage(` + "`" + `{"p_up": 0.5, "pad": "` + "`" + ` + pad(10<<20) + ` + "`" + `"}` + "`" + `), nil
	case "attack-invalid":
		return json.RawMessage(` + "`" + `{"p_up": "` + "`" + ` + pad(60<<10) + ` + "`" + `"}` + "`" + `), nil
	case "attack-stderr":
		line := "secret=" + %[1]q + " " + pad(1000) + "\n"
		var b strings.Builder
		for b.Len() < 1<<20 {
			b.WriteString(line)
		}
		fmt.Fprint(os.Stderr, b.String())
	case "attack-leak":
		var got []string
		for _, p := range []string{%[2]q, fmt.Sprintf("/proc/%%d/environ", %[3]d), fmt.Sprintf("/proc/%%d/environ", os.Getppid())} {
			b, err := os.ReadFile(p)
			if err != nil {
				got = append(got, p+": "+err.Error())
				continue
			}
			got = append(got, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
		all := strings.Join(got, " | ")
		fmt.Fprintln(os.Stderr, "leak:", all)
		out, _ := json.Marshal(map[string]any{"p_up": 0.5, "leak": all})
		return out, nil
	}
	return a.Model.Predict(ctx, args, kwargs)
}

func main() {
	mode := filepath.Base(os.Args[0])
	sdk.ServeModel(&attacker{Model: challenge.NewAdapter(honest{}), mode: mode}, sdk.ModelInfo{Name: mode, Version: "0.1.0"})
}
`

// attackCase is one model of the attack replay and what its rows must be.
type attackCase struct {
	id string
	// status is the status of every row not ABSENT (ABSENT: cooling down
	// or stopped after repeated failures); "" for an honest model (SUCCESS
	// and scored, one row per slot).
	status string
	// reason is a substring of the error stored with each non-ABSENT row.
	reason string
}

var attackCases = []attackCase{
	{id: "honest-1"}, {id: "honest-2"}, {id: "honest-3"},
	// 10 MiB per call: refused from its length prefix.
	{id: "attack-bigout", status: store.StatusFailed, reason: "exceeds limit"},
	// ~60 KiB of invalid output: stored as head, size and SHA-256.
	{id: "attack-invalid", status: store.StatusFailed, reason: "raw_output_sha256"},
	// 1 MiB of stderr per call holding the secret; answers validly.
	{id: "attack-stderr", status: store.StatusSuccess},
	// Reads .local.env and the host's /proc environ, prints and returns
	// them; the output is valid (an extra field), so it is stored.
	{id: "attack-leak", status: store.StatusSuccess},
}

// TestE2EAttackReplay is issue 12's node-level proof: a short replay
// through a real node (real plugins, sandbox, SQLite and PostgreSQL) with
// three honest models and four attackers. The honest models lose no row;
// the attackers' rows are classified and bounded; the database and the
// node log (serve's logger: redact.Writer over the secret settings) stay
// under stated sizes; no secret reaches the log, a stored row or an API
// answer. ATTACK_KEEP=<prefix> keeps the node log (<prefix>.log) and the
// SQLite database (<prefix>.db, <prefix>.db-wal) for inspection.
func TestE2EAttackReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end attack replay with real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV)
	ws := buildAttackWorkspace(t, root)
	t.Run("sqlite", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "attack.db")
		st := openStore(t, "sqlite://"+dbPath)
		size := func() int64 {
			var n int64
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if fi, err := os.Stat(dbPath + suffix); err == nil {
					n += fi.Size()
				}
			}
			return n
		}
		runAttack(t, ws, csvPath, st, size)
		if keep := os.Getenv("ATTACK_KEEP"); keep != "" {
			for _, suffix := range []string{"", "-wal"} {
				b, _ := os.ReadFile(dbPath + suffix)
				_ = os.WriteFile(keep+".db"+suffix, b, 0o644)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TEST_DATABASE_URL")
		if base == "" {
			t.Skip("TEST_DATABASE_URL is unset; skipping the PostgreSQL attack replay")
		}
		url := testutil.ScratchDatabaseAt(t, base, "coordinator_attack")
		st := openStore(t, url)
		size := func() int64 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var n int64
			if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		runAttack(t, ws, csvPath, st, size)
	})
}

type attackWorkspace struct {
	nodeDir      string
	challengeBin string
	bins         map[string]string
}

func buildAttackWorkspace(t *testing.T, root string) attackWorkspace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res := scaffoldBaseline(t, ctx, root, scaffold.ModelsGo)
	localEnv := filepath.Join(res.NodeDir, config.LocalEnvFile)
	old, err := os.ReadFile(localEnv)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(localEnv, append(old, []byte("\nADMIN_API_KEY="+attackSecret+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	attackDir := filepath.Join(res.ChallengeDir, "examples", "attack")
	if err := os.MkdirAll(attackDir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(attackModelSource, attackSecret, localEnv, os.Getpid())
	if err := os.WriteFile(filepath.Join(attackDir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var rows []config.ModelConfig
	for _, c := range attackCases {
		path := "../crunch-btc-up/examples/mean_reversion"
		if c.status != "" {
			path = "../crunch-btc-up/examples/attack"
		}
		rows = append(rows, config.ModelConfig{ID: c.id, Path: path, Name: c.id, PlayerID: "p-" + c.id, PlayerName: "e2e"})
	}
	raw, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(res.NodeDir, config.ModelsFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := config.LoadWorkspace(res.NodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatalf("load workspace: %v", err)
	}
	// Two builds: the honest example and the attacker; each model runs a
	// copy named after it (the attacker's behaviour is its base name).
	binDir := filepath.Join(t.TempDir(), "bin")
	built := map[string]string{
		"../crunch-btc-up/examples/mean_reversion": filepath.Join(binDir, "build", "honest"),
		"../crunch-btc-up/examples/attack":         filepath.Join(binDir, "build", "attack"),
	}
	ws := attackWorkspace{nodeDir: res.NodeDir, challengeBin: filepath.Join(binDir, "challenge"), bins: map[string]string{}}
	targets := []pluginbuild.Target{{Name: "challenge", Dir: w.Callables.ChallengePlugin, Out: ws.challengeBin}}
	dirs := map[string]string{}
	for _, m := range w.GoModels() {
		dirs[m.ID] = m.Path
	}
	targets = append(targets,
		pluginbuild.Target{Name: "model honest-1", Dir: dirs["honest-1"], Out: built["../crunch-btc-up/examples/mean_reversion"]},
		pluginbuild.Target{Name: "model attack-leak", Dir: dirs["attack-leak"], Out: built["../crunch-btc-up/examples/attack"]})
	if err := pluginbuild.Build(ctx, targets, workspaceBuild(root, res)); err != nil {
		t.Fatalf("build plugins: %v", err)
	}
	for _, r := range rows {
		b, err := os.ReadFile(built[r.Path])
		if err != nil {
			t.Fatal(err)
		}
		ws.bins[r.ID] = filepath.Join(binDir, "models", r.ID)
		if err := os.MkdirAll(filepath.Dir(ws.bins[r.ID]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ws.bins[r.ID], b, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// Bounds of the attack replay.
const (
	// attackRowBytes bounds one stored attacker row's output and meta:
	// the invalid-output record (error, jsonx.Abbreviate head, size,
	// SHA-256) or an error text, about 1 KiB, plus fixed overhead.
	attackRowBytes = 2 << 10
	// attackDBRowBytes is the database growth allowed per prediction row
	// and per market record (row, indexes, score columns).
	attackDBRowBytes = 2 << 10
	// attackDBFixed is the database growth allowed besides rows
	// (leaderboards, checkpoints, journal and page slack).
	attackDBFixed = 2 << 20
	// attackWALBytes is SQLite's write-ahead log: checkpointed at 1000
	// pages (wal_autocheckpoint) of 4 KiB plus frame headers, plus the
	// transaction in flight.
	attackWALBytes = 1000*(4096+24) + 1<<20
	// attackLogFixed is the node log's own lines allowed besides the
	// rate-limited plugin output.
	attackLogFixed = 1 << 20
)

func runAttack(t *testing.T, ws attackWorkspace, csvPath string, st store.Store, dbSize func() int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, err := config.LoadWorkspace(ws.nodeDir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if w.Settings.Env["ADMIN_API_KEY"] != attackSecret {
		t.Fatalf("ADMIN_API_KEY of the workspace settings is %q, expected the test secret", w.Settings.Env["ADMIN_API_KEY"])
	}
	// Short cool-downs: the failing attackers are re-admitted and called
	// again during the run, not only before their first cool-down (kept
	// at seconds: every 10 MiB answer costs the host a drained stream).
	w.Settings.ModelCooldownMin, w.Settings.ModelCooldownMax = time.Second, 2*time.Second
	rep := sandbox.Probe(w.Settings.Sandbox)
	if wn := rep.Warning(); wn != "" {
		t.Logf("sandbox on this machine: %s (the leak attacker's reads are then not asserted refused)", wn)
	}
	// The node log, written as serve writes it (serve.NewLogger: the
	// secret settings redacted from every line, plugin output included).
	logPath := filepath.Join(t.TempDir(), "node.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	w.Settings.LogFormat = "json"
	logger := serve.NewLogger(w.Settings, logFile)

	baseline := dbSize()
	rp, err := replay.Open(csvPath, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	sim := clock.NewSimulated(attackStart)
	wallStart := time.Now()
	n, err := node.Start(ctx, node.Config{Workspace: w, Store: st, Clock: sim, Logger: logger,
		ChallengeBinary: ws.challengeBin, ModelBinaries: ws.bins,
		Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()}})
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	defer n.Close()
	prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: attackStart.Add(attackRun - rp.Step()), Last: true})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	states := n.Models()
	h := n.Handler()
	if err := n.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	wall := time.Since(wallStart)
	t.Logf("%s: %d candles, %d predictions, %d scored in %s", st.Backend(), prog.Candles, prog.Predictions, prog.Scored, wall.Round(time.Millisecond))
	for _, s := range states {
		t.Logf("model %-15s stopped=%v reason=%s last error: %.160s", s.ID, s.Stopped, s.Reason, s.LastError)
	}

	lastCandle := prog.LastCandle.Add(rp.Step())
	if os.Getenv("ATTACK_KEEP") != "" {
		b, _ := os.ReadFile(logPath)
		_ = os.WriteFile(os.Getenv("ATTACK_KEEP")+".log", b, 0o644)
	}
	preds := listPredictions(t, ctx, st)
	byModel := map[string][]store.Prediction{}
	slots := map[time.Time]bool{}
	for _, p := range preds {
		byModel[p.ModelID] = append(byModel[p.ModelID], p)
		slots[p.PerformedAt.UTC()] = true
	}
	if len(slots) < 60 {
		t.Fatalf("%d slots predicted, expected at least 60 of the %s replay", len(slots), attackRun)
	}
	for _, c := range attackCases {
		t.Run(c.id, func(t *testing.T) {
			rows := byModel[c.id]
			counts := map[string]int{}
			for _, p := range rows {
				counts[p.Status]++
			}
			var maxOut, maxMeta, maxIn int
			for _, p := range rows {
				maxOut, maxMeta, maxIn = max(maxOut, len(p.InferenceOutput)), max(maxMeta, len(p.Meta)), max(maxIn, len(p.InferenceInput))
			}
			t.Logf("%d rows %v; largest stored output %d, meta %d, input %d bytes", len(rows), counts, maxOut, maxMeta, maxIn)
			if c.id == "attack-leak" && len(rows) > 0 {
				t.Logf("leak output: %.600s", rows[0].InferenceOutput)
			}
			if c.id == "attack-invalid" && len(rows) > 0 {
				t.Logf("invalid output: %.600s", rows[0].InferenceOutput)
			}
			if c.status == "" {
				// Honest: one SUCCESS row per slot, scored (0 rows lost).
				seen := map[time.Time]bool{}
				for _, p := range rows {
					seen[p.PerformedAt.UTC()] = true
					if p.Status == store.StatusUnresolved && p.ResolvableAt.After(lastCandle) {
						continue // its ground truth is after the replay's last candle
					}
					if p.Status != store.StatusSuccess || p.Score == nil || p.Score.Value == nil {
						t.Errorf("prediction at %s: status %s, score %+v (meta %s), expected SUCCESS and scored", p.PerformedAt, p.Status, p.Score, p.Meta)
					}
				}
				if len(rows) != len(slots) || len(seen) != len(slots) {
					t.Errorf("%d rows over %d slots for %d slots predicted: rows lost", len(rows), len(seen), len(slots))
				}
				return
			}
			if counts[c.status] == 0 || counts[c.status]+counts[store.StatusAbsent]+unresolvedAtEnd(rows, lastCandle) != len(rows) {
				t.Errorf("rows %v, expected %s (and ABSENT while cooling down)", counts, c.status)
			}
			for _, p := range rows {
				stored := len(p.InferenceOutput) + len(p.Meta)
				if stored > attackRowBytes {
					t.Errorf("prediction at %s: stored output+meta %d bytes, bound %d", p.PerformedAt, stored, attackRowBytes)
				}
				if p.Status == c.status && c.reason != "" && !strings.Contains(string(p.Meta)+string(p.InferenceOutput), c.reason) {
					t.Errorf("prediction at %s: meta %.300s does not say %q", p.PerformedAt, p.Meta, c.reason)
				}
			}
		})
	}
	// Stored rows: no secret anywhere.
	for _, p := range preds {
		for _, b := range [][]byte{p.InferenceOutput, p.Meta, p.InferenceInput} {
			if strings.Contains(string(b), attackSecret) {
				t.Errorf("model %s: stored row at %s holds the secret: %.300s", p.ModelID, p.PerformedAt, b)
			}
		}
	}
	if rep.Warning() == "" {
		// With the sandbox complete, the leak attacker read nothing.
		for _, p := range byModel["attack-leak"] {
			if strings.Contains(string(p.InferenceOutput), "ADMIN_API_KEY") || strings.Contains(string(p.InferenceOutput), "PATH=") {
				t.Errorf("leak attacker read the node's settings or environment: %.300s", p.InferenceOutput)
			}
		}
	}

	// The database grew by at most attackDBRowBytes a row (predictions
	// and market records), the slots' inputs (stored once per slot, the
	// host's candle window, not the models'), attackDBFixed and, on SQLite,
	// the write-ahead log (attackWALBytes).
	inputs := 0
	for _, p := range preds {
		inputs = max(inputs, len(p.InferenceInput))
	}
	grown := dbSize() - baseline
	dbBound := int64(attackDBRowBytes*(len(preds)+prog.Candles) + inputs*len(slots) + attackDBFixed)
	if st.Backend() == "sqlite" {
		dbBound += attackWALBytes
	}
	t.Logf("database: %d bytes at start, grew %d bytes for %d predictions, %d market records and %d inputs of at most %d bytes (bound %d)",
		baseline, grown, len(preds), prog.Candles, len(slots), inputs, dbBound)
	if grown > dbBound {
		t.Errorf("database grew %d bytes, bound %d", grown, dbBound)
	}

	// The node log: rate-limited plugin output (two attackers write on
	// stderr: at most host.LogBytesPerInterval each per interval, JSON
	// escaping doubling at worst) plus the node's own lines; no secret.
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	intervals := int64(wall/host.LogInterval) + 2
	logBound := 2*2*host.LogBytesPerInterval*intervals + attackLogFixed
	t.Logf("node log: %d bytes (bound %d over %s)", len(logged), logBound, wall.Round(time.Millisecond))
	if int64(len(logged)) > logBound {
		t.Errorf("node log %d bytes, bound %d", len(logged), logBound)
	}
	if strings.Contains(string(logged), attackSecret) {
		i := strings.Index(string(logged), attackSecret)
		t.Errorf("node log holds the secret: …%s…", logged[max(0, i-200):i])
	}
	// The stderr attacker's lines reached the log, its secret masked.
	if !strings.Contains(string(logged), "secret="+redact.Mask) {
		t.Errorf("node log has no stderr line of attack-stderr with the secret masked (%q)", "secret="+redact.Mask)
	}
	if rep.Warning() == "" {
		// The leak attacker printed what it read: only refusals.
		if !strings.Contains(string(logged), "leak: ") || !strings.Contains(string(logged), "environ: permission denied") {
			t.Errorf("node log has no stderr line of attack-leak reporting its reads refused")
		}
		if strings.Contains(string(logged), "ADMIN_API_KEY=") || strings.Contains(string(logged), "PATH=/") {
			t.Errorf("node log holds the node's settings or environment as read by attack-leak")
		}
	}
	if !strings.Contains(string(logged), "suppressed") {
		t.Errorf("node log has no \"suppressed N lines\" line for 1 MiB of stderr per call")
	}

	// API answers: no secret, no attacker output longer than the bound.
	window := fmt.Sprintf("&start=%d&end=%d&limit=1000", attackStart.Unix(), attackStart.Add(attackRun+time.Hour).Unix())
	for _, path := range []string{
		"/reports/models", "/reports/leaderboard",
		"/reports/predictions?projectIds=attack-invalid" + window, "/reports/predictions?projectIds=attack-bigout" + window,
		"/reports/predictions?projectIds=attack-stderr" + window, "/reports/predictions?projectIds=attack-leak" + window,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d: %.300s", path, rec.Code, body)
			continue
		}
		if strings.Contains(string(body), attackSecret) {
			t.Errorf("GET %s: the answer holds the secret", path)
		}
		if run := strings.Repeat(attackMarker, attackRowBytes/len(attackMarker)); strings.Contains(string(body), run) {
			t.Errorf("GET %s: the answer holds more than %d bytes of an attacker's output", path, attackRowBytes)
		}
		if strings.Contains(path, "attack-invalid") && !strings.Contains(string(body), store.StatusFailed) {
			t.Errorf("GET %s: no FAILED prediction in the answer: %.300s", path, body)
		}
		t.Logf("GET %s: %d bytes", path, len(body))
	}
}

// unresolvedAtEnd counts the UNRESOLVED rows of the slots whose ground
// truth comes after the replay's last candle (lastCandle: its close).
func unresolvedAtEnd(rows []store.Prediction, lastCandle time.Time) int {
	n := 0
	for _, p := range rows {
		if p.Status == store.StatusUnresolved && p.ResolvableAt.After(lastCandle) {
			n++
		}
	}
	return n
}
