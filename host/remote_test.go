package host

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
)

func remoteOpts() Options {
	return Options{
		CallTimeout:       2 * time.Second,
		StartTimeout:      2 * time.Second,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
		// Far from the test's failures: only the kill-restart is exercised.
		MaxConsecutiveFailures: 50,
		MaxConsecutiveTimeouts: 50,
	}
}

func startServer(t *testing.T, h mrtest.Handler) *mrtest.Server {
	t.Helper()
	s, err := mrtest.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func remoteSpecFor(id string, s *mrtest.Server) PluginSpec {
	return PluginSpec{ID: id, Remote: &RemoteSpec{Address: s.Addr(), BaseClass: "tracker.TrackerBase"}}
}

// TestRemoteKilledAndRestarted: one of three remote models is killed mid-run
// (its server stops, connections drop) and served again on the same
// address. The others answer SUCCESS in every cycle; the killed one
// answers a non-answer (ABSENT while reconnecting, or the failed call)
// and comes back to SUCCESS after the restart, with a warm-up Tick.
func TestRemoteKilledAndRestarted(t *testing.T) {
	servers := map[string]*mrtest.Server{}
	var specs []PluginSpec
	for _, id := range []string{"a", "b", "c"} {
		servers[id] = startServer(t, mrtest.Constant(json.RawMessage(`{"p_up": 0.5}`)))
		specs = append(specs, remoteSpecFor(id, servers[id]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ms, err := StartModels(ctx, specs, remoteOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	cycle := func() map[string]CallResult {
		_ = ms.Tick(ctx, json.RawMessage(`{"candles": [1, 2, 3]}`))
		return ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}, nil)
	}
	checkOthers := func(res map[string]CallResult, phase string) {
		t.Helper()
		if len(res) != 3 {
			t.Fatalf("%s: expected 3 results, found %d", phase, len(res))
		}
		for _, id := range []string{"a", "c"} {
			if r := res[id]; r.Status != StatusSuccess || string(r.Output) != `{"p_up": 0.5}` {
				t.Fatalf("%s: model %s: expected SUCCESS {\"p_up\": 0.5}, found %s %s (%v)", phase, id, r.Status, r.Output, r.Err)
			}
		}
	}
	for i := 0; i < 3; i++ {
		res := cycle()
		checkOthers(res, "before the kill")
		if res["b"].Status != StatusSuccess {
			t.Fatalf("before the kill: b: %s (%v)", res["b"].Status, res["b"].Err)
		}
	}
	servers["b"].Stop()
	// The connection loss is seen by the watcher or by the next call.
	sawNonAnswer := false
	for i := 0; i < 200 && !sawNonAnswer; i++ {
		res := cycle()
		checkOthers(res, "while b is down")
		if st := res["b"].Status; st != StatusSuccess {
			sawNonAnswer = true
			if st != StatusAbsent && st != StatusCrashed && st != StatusTimeout {
				t.Fatalf("while b is down: expected ABSENT, CRASHED or TIMEOUT, found %s (%v)", st, res["b"].Err)
			}
		}
	}
	if !sawNonAnswer {
		t.Fatal("b kept answering SUCCESS after its server stopped")
	}
	res := cycle()
	checkOthers(res, "while b is down")
	if res["b"].Status != StatusAbsent {
		t.Fatalf("while b is down (reconnecting): expected ABSENT, found %s (%v)", res["b"].Status, res["b"].Err)
	}
	before := servers["b"].Calls.Load()
	if err := servers["b"].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := ms.WaitReady(ctx, "b"); err != nil {
		t.Fatalf("b did not come back: %v", err)
	}
	res = cycle()
	checkOthers(res, "after the restart")
	if res["b"].Status != StatusSuccess {
		t.Fatalf("after the restart: b: expected SUCCESS, found %s (%v)", res["b"].Status, res["b"].Err)
	}
	// Setup again, and at least the warm-up tick, this cycle's tick and predict.
	if n := servers["b"].Calls.Load() - before; n < 3 {
		t.Fatalf("after the restart: expected >= 3 calls on b (warm-up tick, tick, predict), found %d", n)
	}
	if n := servers["b"].Setups.Load(); n < 2 {
		t.Fatalf("expected b to be Setup again after the restart, found %d Setups", n)
	}
	for _, st := range ms.States() {
		if st.Stopped || st.CoolingDown {
			t.Fatalf("model %s: expected running, found %+v", st.ID, st)
		}
	}
}

// TestRemoteDownAtStart: an address nobody serves does not block the set;
// the model answers ABSENT (or a start failure) and counts toward the stop
// rules: with MaxConsecutiveFailures 1 it is taken out for a cool-down
// (MULTIPLE_FAILED) like a local model that keeps crashing.
func TestRemoteDownAtStart(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // nobody serves addr now
	good := startServer(t, mrtest.Constant(json.RawMessage(`1.5`)))
	opts := remoteOpts()
	opts.StartTimeout = 300 * time.Millisecond
	opts.MaxConsecutiveFailures = 1
	opts.CooldownMin, opts.CooldownMax = time.Hour, time.Hour
	events := make(chan Event, 64)
	opts.OnEvent = func(e Event) {
		select {
		case events <- e:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := StartModels(ctx, []PluginSpec{
		{ID: "down", Remote: &RemoteSpec{Address: addr, BaseClass: "tracker.TrackerBase"}},
		remoteSpecFor("up", good),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	var se *StartError
	for cooled := false; !cooled; {
		select {
		case e := <-events:
			if e.Kind == EventStartFailed && e.PluginID == "down" && errors.As(e.Err, &se) {
				if se.Stage != StageConnect || se.Status != StatusCrashed || !errors.Is(se, ErrConnectionLost) {
					t.Fatalf("start failure of down: expected connect CRASHED ErrConnectionLost, found %s %s %v", se.Stage, se.Status, se.Err)
				}
			}
			cooled = e.Kind == EventCooldown && e.PluginID == "down"
			if cooled && e.Reason != StopMultipleFailed {
				t.Fatalf("expected MULTIPLE_FAILED, found %s", e.Reason)
			}
		case <-ctx.Done():
			t.Fatal("down was never taken out for a cool-down")
		}
	}
	res := ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`)}, nil)
	if r := res["down"]; r.Status != StatusAbsent || !errors.Is(r.Err, ErrCoolingDown) {
		t.Fatalf("down: expected ABSENT (cooling down), found %s (%v)", r.Status, r.Err)
	}
	if r := res["up"]; r.Status != StatusSuccess || string(r.Output) != "1.5" {
		t.Fatalf("up: expected SUCCESS 1.5, found %s %s (%v)", r.Status, r.Output, r.Err)
	}
}

// TestRemoteStatuses: the runner's status codes map like a local Python
// model's (§6.5): MODEL_FAILED is FAILED, BAD_IMPLEMENTATION stops the
// model, RESOURCE_EXHAUSTED ("Server busy") is a TIMEOUT.
func TestRemoteStatuses(t *testing.T) {
	s := startServer(t, func(_ context.Context, method string, args []json.RawMessage) (json.RawMessage, error) {
		if method != modelrunner.MethodPredict {
			return nil, nil
		}
		switch string(args[0]) {
		case `"fail"`:
			return nil, errors.New("boom")
		case `"bad"`:
			return nil, &modelrunner.StatusError{Code: modelrunner.CodeBadImplementation, Message: "no predict"}
		}
		return json.RawMessage(`2`), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := StartModels(ctx, []PluginSpec{remoteSpecFor("m", s)}, remoteOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	pred := func(arg string) CallResult {
		return ms.Predict(ctx, []json.RawMessage{json.RawMessage(arg)}, nil)["m"]
	}
	if r := pred(`"ok"`); r.Status != StatusSuccess || string(r.Output) != "2" {
		t.Fatalf("ok: %s %s %v", r.Status, r.Output, r.Err)
	}
	if r := pred(`"fail"`); r.Status != StatusFailed {
		t.Fatalf("fail: expected FAILED, found %s %v", r.Status, r.Err)
	}
	if r := pred(`"bad"`); r.Status != StatusBadImplementation {
		t.Fatalf("bad: expected BAD_IMPLEMENTATION, found %s %v", r.Status, r.Err)
	}
	if st := ms.States()[0]; !st.Stopped || st.Reason != StopBadImplementation {
		t.Fatalf("expected m stopped for BAD_IMPLEMENTATION, found %+v", st)
	}
	if r := pred(`"ok"`); r.Status != StatusAbsent {
		t.Fatalf("after the stop: expected ABSENT, found %s", r.Status)
	}
	if st, _ := classifyCall(ctx, ctx, busyAsTimeout(status.Error(codes.ResourceExhausted, "Server busy")), nil); st != StatusTimeout {
		t.Fatalf("RESOURCE_EXHAUSTED of a remote runner: expected TIMEOUT, found %s", st)
	}
}
