package predict_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC) // 10 s into a 60 s slot

// openStore opens a migrated SQLite store in a temp dir.
func openStore(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := dburl.Open(ctx, "sqlite://"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func seedSchedules(t testing.TB, st store.Store, rows ...store.ScheduleRow) {
	t.Helper()
	if err := st.ReplaceSchedules(context.Background(), rows); err != nil {
		t.Fatalf("seed schedules: %v", err)
	}
}

func scheduleRow(id string, every, horizon int) store.ScheduleRow {
	return store.ScheduleRow{
		ID: id, ScopeKey: id, Active: true,
		ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon_seconds":` + fmt.Sprint(horizon) + `}`),
		Schedule:      json.RawMessage(fmt.Sprintf(`{"every_seconds":%d,"resolve_after_seconds":%d}`, every, horizon)),
		Meta:          json.RawMessage(`{}`),
	}
}

// fakeModels answers Tick and Predict with chosen results.
type fakeModels struct {
	mu      sync.Mutex
	states  []host.ModelState
	answers map[string]host.CallResult // by model id; missing = no answer
	ticks   int
	args    []json.RawMessage
	kwargs  json.RawMessage
	// confirmed holds each ConfirmOutput verdict: "" valid, else the reason.
	confirmed map[string]string
}

func (f *fakeModels) ConfirmOutput(id string, invalid error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.confirmed == nil {
		f.confirmed = map[string]string{}
	}
	f.confirmed[id] = ""
	if invalid != nil {
		f.confirmed[id] = invalid.Error()
	}
}

func (f *fakeModels) Tick(_ context.Context, input json.RawMessage) map[string]host.CallResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks++
	out := map[string]host.CallResult{}
	for _, s := range f.states {
		if s.Running {
			out[s.ID] = host.CallResult{Status: host.StatusSuccess}
		}
	}
	return out
}

func (f *fakeModels) Predict(_ context.Context, args []json.RawMessage, kwargs json.RawMessage) map[string]host.CallResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.args, f.kwargs = args, kwargs
	out := map[string]host.CallResult{}
	for id, r := range f.answers {
		out[id] = r
	}
	return out
}

func (f *fakeModels) States() []host.ModelState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]host.ModelState(nil), f.states...)
}

func (f *fakeModels) set(states []host.ModelState, answers map[string]host.CallResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states, f.answers = states, answers
}

// challenge is a baseline-like challenge: models answer {"p_up": x}.
type challenge struct {
	sdk.Defaults
	rawErr   error
	rawInput json.RawMessage
	kwargs   json.RawMessage
}

func (c *challenge) ProvideRawInput(_ context.Context, now time.Time, _ sdk.HostData) (json.RawMessage, error) {
	if c.rawErr != nil {
		return nil, c.rawErr
	}
	if c.rawInput != nil {
		return c.rawInput, nil
	}
	return json.RawMessage(fmt.Sprintf(`{"asset":"BTC","candles":[{"ts":%d,"close":100.5}]}`, now.Unix())), nil
}

func (c *challenge) BuildPredictCall(ctx context.Context, cfg sdk.ScheduleConfig, in json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	call, err := c.Defaults.BuildPredictCall(ctx, cfg, in, scope)
	if c.kwargs != nil {
		call.Kwargs = c.kwargs
	}
	return call, err
}

func (c *challenge) ValidateInferenceOutput(_ context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	out := make([]sdk.ValidationResult, len(items))
	for i, it := range items {
		var v struct {
			PUp *float64 `json:"p_up"`
		}
		if err := json.Unmarshal(it.InferenceOutput, &v); err != nil || v.PUp == nil {
			out[i].Error = "p_up: required number"
			continue
		}
		if *v.PUp < 0 || *v.PUp > 1 {
			out[i].Error = fmt.Sprintf("p_up: expected a probability in [0,1], found %v", *v.PUp)
		}
	}
	return out, nil
}

// gate is a feed-freshness gate with a switchable error.
type gate struct {
	mu    sync.Mutex
	err   error
	asked []string
}

func (g *gate) Fresh(asset string, _ time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, asset)
	return g.err
}

func success(out string, d time.Duration) host.CallResult {
	return host.CallResult{Status: host.StatusSuccess, Output: json.RawMessage(out), Duration: d}
}

type fixture struct {
	st     store.Store
	clk    *clock.Simulated
	models *fakeModels
	ch     *challenge
	gate   *gate
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{st: openStore(t), clk: clock.NewSimulated(t0), models: &fakeModels{}, ch: &challenge{}, gate: &gate{}}
	seedSchedules(t, f.st, scheduleRow("btc-60", 60, 300))
	return f
}

func (f *fixture) worker(t testing.TB, mod func(*predict.Config)) *predict.Worker {
	t.Helper()
	cfg := predict.Config{Challenge: wire.Checked(f.ch), Models: f.models, Store: f.st, Clock: f.clk, Freshness: f.gate}
	if mod != nil {
		mod(&cfg)
	}
	w, err := predict.New(cfg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return w
}

func running(ids ...string) []host.ModelState {
	var out []host.ModelState
	for _, id := range ids {
		out = append(out, host.ModelState{ID: id, Name: id + "-described", Running: true})
	}
	return out
}

func listPredictions(t *testing.T, st store.Store) map[string]store.Prediction {
	t.Helper()
	ps, err := st.ListPredictions(context.Background(), store.PredictionQuery{Limit: 10000})
	if err != nil {
		t.Fatalf("list predictions: %v", err)
	}
	out := map[string]store.Prediction{}
	for _, p := range ps {
		out[p.ID] = p
	}
	return out
}

func TestCycleStoresOnePredictionPerModelWithStatus(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.ch.kwargs = json.RawMessage(`{"tournament_mode":true}`)
	states := append(running("ok", "notobj", "late", "crash", "bad"), host.ModelState{ID: "down", Running: false, Stopped: true, Reason: host.StopMultipleFailed})
	f.models.set(states, map[string]host.CallResult{
		"ok":     success(`{"p_up": 0.75}`, 12500*time.Microsecond),
		"notobj": success(`0.5`, time.Millisecond),
		"late":   {Status: host.StatusTimeout, Err: errors.New("no answer before the call deadline"), Duration: 5 * time.Second},
		"crash":  {Status: host.StatusCrashed, Err: errors.New("plugin process exited")},
		"bad":    {Status: host.StatusBadImplementation, Err: errors.New("output does not decode")},
	})
	w := f.worker(t, nil)
	res, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	slot := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if len(res.Due) != 1 || !res.Slots["btc-60"].Equal(slot) {
		t.Fatalf("due = %v slots = %v, want btc-60 at %s", res.Due, res.Slots, slot)
	}
	if res.Predictions != 6 || res.Inserted != 6 {
		t.Fatalf("predictions = %d inserted = %d, want 6 and 6", res.Predictions, res.Inserted)
	}
	if f.models.ticks != 1 {
		t.Errorf("ticks = %d, want 1", f.models.ticks)
	}
	if string(f.models.kwargs) != `{"tournament_mode":true}` {
		t.Errorf("kwargs reaching the models = %s", f.models.kwargs)
	}
	if len(f.models.args) != 3 || string(f.models.args[0]) != `"BTC"` || string(f.models.args[1]) != "300" {
		t.Errorf("args = %s, want [\"BTC\", 300, 300]", f.models.args)
	}
	got := listPredictions(t, f.st)
	want := map[string]string{
		"ok": store.StatusSuccess, "notobj": store.StatusFailed, "late": store.StatusTimeout,
		"crash": store.StatusCrashed, "bad": store.StatusBadImplementation, "down": store.StatusAbsent,
	}
	for model, status := range want {
		id := store.PredictionID("btc-60", model, slot)
		p, ok := got[id]
		if !ok {
			t.Errorf("model %s: no prediction with id %s", model, id)
			continue
		}
		if p.Status != status {
			t.Errorf("model %s: status %s, want %s", model, p.Status, status)
		}
		if !p.PerformedAt.Equal(t0) || !p.ResolvableAt.Equal(t0.Add(300*time.Second)) {
			t.Errorf("model %s: performed_at %s resolvable_at %s", model, p.PerformedAt, p.ResolvableAt)
		}
		var in map[string]json.RawMessage
		if err := json.Unmarshal(p.InferenceInput, &in); err != nil || in["_scope"] == nil || in["candles"] == nil {
			t.Errorf("model %s: inference input %s lacks _scope or candles", model, p.InferenceInput)
		}
		if p.ScopeKey != "btc-60" || !strings.Contains(string(p.Scope), `"asset":"BTC"`) {
			t.Errorf("model %s: scope %s %s", model, p.ScopeKey, p.Scope)
		}
	}
	// Every SUCCESS answer is confirmed to the host: the invalid one counts
	// toward the model's stop rule.
	if len(f.models.confirmed) != 2 || f.models.confirmed["ok"] != "" || f.models.confirmed["notobj"] == "" {
		t.Errorf("confirmed verdicts = %q, want ok valid and notobj invalid", f.models.confirmed)
	}
	ok := got[store.PredictionID("btc-60", "ok", slot)]
	if ok.ExecTimeMs != 12.5 {
		t.Errorf("exec_time_ms = %v, want 12.5 (milliseconds)", ok.ExecTimeMs)
	}
	if string(ok.InferenceOutput) != `{"p_up":0.75}` {
		t.Errorf("ok output = %s", ok.InferenceOutput)
	}
	var failed struct {
		Err string          `json:"_validation_error"`
		Raw json.RawMessage `json:"raw_output"`
	}
	nobj := got[store.PredictionID("btc-60", "notobj", slot)]
	if err := json.Unmarshal(nobj.InferenceOutput, &failed); err != nil || failed.Err == "" || string(failed.Raw) != `{"result":0.5}` {
		t.Errorf("validation failure output = %s, want _validation_error and raw_output {\"result\":0.5}", nobj.InferenceOutput)
	}
	if late := got[store.PredictionID("btc-60", "late", slot)]; late.ExecTimeMs != 5000 || !strings.Contains(string(late.Meta), "deadline") {
		t.Errorf("timeout row: exec %v meta %s", late.ExecTimeMs, late.Meta)
	}
	models, err := f.st.ListModels(ctx)
	if err != nil || len(models) != 6 {
		t.Fatalf("models = %v (%v), want 6 rows", models, err)
	}
	for _, m := range models {
		if m.Name == "" || m.Name == "None" {
			t.Errorf("model %s name %q", m.ID, m.Name)
		}
	}
}

// forgetful hides stored predictions from the due check, as if the cycle
// were retried after a crash between save and bookkeeping.
type forgetful struct{ store.Store }

func (forgetful) LatestPerformedAt(context.Context, string) (time.Time, error) {
	return time.Time{}, store.ErrNotFound
}

func TestRetryAndRestartNeitherSkipNorRepeat(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.models.set(running("a", "b"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0), "b": success(`{"p_up":0.25}`, 0)})
	w := f.worker(t, nil)
	if res, err := w.RunOnce(ctx); err != nil || res.Inserted != 2 {
		t.Fatalf("first cycle: %+v %v", res, err)
	}
	// Same slot again: not due.
	f.clk.Advance(20 * time.Second)
	if res, err := w.RunOnce(ctx); err != nil || len(res.Due) != 0 || res.Inserted != 0 {
		t.Fatalf("second cycle in the same slot: due %v inserted %d err %v", res.Due, res.Inserted, err)
	}
	// A retried cycle that forgot it already ran inserts nothing new.
	retry := f.worker(t, func(c *predict.Config) { c.Store = forgetful{f.st} })
	res, err := retry.RunOnce(ctx)
	if err != nil || res.Predictions != 2 || res.Inserted != 0 {
		t.Fatalf("retried cycle: predictions %d inserted %d err %v, want 2 and 0", res.Predictions, res.Inserted, err)
	}
	// Restart inside the slot: the new worker does not repeat it.
	restarted := f.worker(t, nil)
	if res, err := restarted.RunOnce(ctx); err != nil || len(res.Due) != 0 {
		t.Fatalf("restart in the same slot: due %v err %v", res.Due, err)
	}
	// Next slot: due exactly once.
	f.clk.Set(time.Date(2026, 3, 1, 12, 1, 2, 0, time.UTC))
	if res, err := restarted.RunOnce(ctx); err != nil || res.Inserted != 2 {
		t.Fatalf("next slot: %+v %v", res, err)
	}
	// Down for five slots: only the current slot is predicted, the missed
	// ones are not back-filled.
	f.clk.Set(time.Date(2026, 3, 1, 12, 7, 5, 0, time.UTC))
	res, err = restarted.RunOnce(ctx)
	if err != nil || res.Inserted != 2 || !res.Slots["btc-60"].Equal(time.Date(2026, 3, 1, 12, 7, 0, 0, time.UTC)) {
		t.Fatalf("after downtime: %+v %v", res, err)
	}
	if n := len(listPredictions(t, f.st)); n != 6 {
		t.Fatalf("stored predictions = %d, want 6 (3 slots x 2 models)", n)
	}
	if want := time.Date(2026, 3, 1, 12, 8, 0, 0, time.UTC); !res.NextDue.Equal(want) {
		t.Errorf("next due = %s, want %s", res.NextDue, want)
	}
}

func TestStaleFeedSkipsCycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.models.set(running("a"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0)})
	f.gate.err = errors.New("newest record is 300s old (limit 120s)")
	w := f.worker(t, func(c *predict.Config) { c.Assets = []string{"ETH"} })
	res, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if !strings.Contains(res.SkipReason, "300s old") || res.Predictions != 0 || f.models.ticks != 0 {
		t.Fatalf("stale cycle: skip %q predictions %d ticks %d", res.SkipReason, res.Predictions, f.models.ticks)
	}
	if got := strings.Join(f.gate.asked, ","); got != "BTC,ETH" {
		t.Errorf("gate asked about %q, want BTC,ETH", got)
	}
	if n := len(listPredictions(t, f.st)); n != 0 {
		t.Fatalf("stored %d predictions on stale data", n)
	}
	f.gate.err = nil
	if res, err := w.RunOnce(ctx); err != nil || res.Inserted != 1 {
		t.Fatalf("fresh cycle: %+v %v", res, err)
	}
}

func TestAbsentRowsStopAfterGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	states := append(running("a"), host.ModelState{ID: "gone", Stopped: true, Reason: host.StopMultipleTimeout})
	f.models.set(states, map[string]host.CallResult{
		"a":    success(`{"p_up":0.5}`, 0),
		"gone": {Status: host.StatusAbsent, Err: errors.New("plugin stopped")},
	})
	w := f.worker(t, func(c *predict.Config) { c.AbsentGrace = 30 * time.Minute })
	count := func() (absent int) {
		for _, p := range listPredictions(t, f.st) {
			if p.ModelID == "gone" {
				if p.Status != store.StatusAbsent {
					t.Fatalf("gone model status %s", p.Status)
				}
				absent++
			}
		}
		return absent
	}
	for _, step := range []struct {
		at   time.Duration
		want int
	}{{0, 1}, {10 * time.Minute, 2}, {29 * time.Minute, 3}, {31 * time.Minute, 3}, {2 * time.Hour, 3}} {
		f.clk.Set(t0.Add(step.at))
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatalf("at +%s: %v", step.at, err)
		}
		if got := count(); got != step.want {
			t.Fatalf("at +%s: %d ABSENT rows, want %d", step.at, got, step.want)
		}
	}
	// The model comes back: it is predicted again.
	f.models.set(running("a", "gone"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0), "gone": success(`{"p_up":0.1}`, 0)})
	f.clk.Set(t0.Add(3 * time.Hour))
	if res, err := w.RunOnce(ctx); err != nil || res.ByStatus[store.StatusSuccess] != 2 {
		t.Fatalf("model back: %+v %v", res, err)
	}
}

func TestCallableErrorsAbortCycle(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		mod      func(*challenge)
		callable string
		status   host.Status
	}{
		{"raw input error", func(c *challenge) {
			c.rawErr = &host.CallError{Plugin: "challenge", Callable: sdk.CallableProvideRawInput, Status: host.StatusCrashed, Err: errors.New("exit 2")}
		}, sdk.CallableProvideRawInput, host.StatusCrashed},
		{"raw input not an object", func(c *challenge) { c.rawInput = json.RawMessage(`[1,2]`) }, sdk.CallableProvideRawInput, host.StatusBadImplementation},
		{"kwargs not an object", func(c *challenge) { c.kwargs = json.RawMessage(`[1]`) }, sdk.CallableBuildPredictCall, host.StatusBadImplementation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.mod(f.ch)
			f.models.set(running("a"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0)})
			_, err := f.worker(t, nil).RunOnce(ctx)
			var ce *predict.CycleError
			if !errors.As(err, &ce) || ce.Callable != tc.callable || ce.Status != tc.status {
				t.Fatalf("err = %v, want CycleError %s %s", err, tc.callable, tc.status)
			}
			if n := len(listPredictions(t, f.st)); n != 0 {
				t.Fatalf("aborted cycle stored %d predictions", n)
			}
		})
	}
}

func TestRunLoopsOnSimulatedClock(t *testing.T) {
	f := newFixture(t)
	f.models.set(running("a"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0)})
	w := f.worker(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// waitFor polls the store; when the worker was not yet asleep when the
	// clock moved, it nudges the clock one more slot.
	waitFor := func(n int) {
		t.Helper()
		for i := 1; i <= 3000; i++ {
			if len(listPredictions(t, f.st)) >= n {
				return
			}
			if i%200 == 0 {
				f.clk.Advance(time.Minute)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("Run did not store %d predictions", n)
	}
	waitFor(1)
	for i := 2; i <= 3; i++ {
		f.clk.Advance(time.Minute)
		waitFor(i)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	slots := map[time.Time]bool{}
	for _, p := range listPredictions(t, f.st) {
		slot := p.PerformedAt.Truncate(time.Minute)
		if slots[slot] {
			t.Fatalf("two predictions in slot %s", slot)
		}
		slots[slot] = true
	}
}

// BenchmarkPredictCycle measures one full cycle (raw input → persisted) with
// 20 models on SQLite and reports the feed→persisted time per cycle.
func BenchmarkPredictCycle(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	var ids []string
	answers := map[string]host.CallResult{}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("m%02d", i)
		ids = append(ids, id)
		answers[id] = success(`{"p_up":0.5}`, time.Millisecond)
	}
	f.models.set(running(ids...), answers)
	w := f.worker(b, nil)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.clk.Advance(time.Minute)
		res, err := w.RunOnce(ctx)
		if err != nil || res.Inserted != 20 {
			b.Fatalf("cycle %d: inserted %d, err %v", i, res.Inserted, err)
		}
		total += res.Timing.Total
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms_feed_to_persisted/cycle")
}
