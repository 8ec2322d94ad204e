package orchestrator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator/orchtest"
)

func entry(model, dep, state string, s *mrtest.Server) orchestrator.Entry {
	addr := ""
	if s != nil {
		addr = s.Addr()
	}
	return orchtest.Entry(model, dep, state, addr)
}

// recorder is a model runner that answers predict with its label and
// records the calls it got, in order.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) handler(label string) mrtest.Handler {
	return func(_ context.Context, method string, args []json.RawMessage) (json.RawMessage, error) {
		r.mu.Lock()
		r.calls = append(r.calls, method+" "+string(args[0]))
		r.mu.Unlock()
		if method == modelrunner.MethodPredict {
			if string(args[0]) == `"bad"` && label == "c" {
				return nil, &modelrunner.StatusError{Code: modelrunner.CodeBadImplementation, Message: "no predict method"}
			}
			return json.RawMessage(strconv.Quote(label)), nil
		}
		return nil, nil
	}
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func startRunner(t *testing.T, h mrtest.Handler) *mrtest.Server {
	t.Helper()
	s, err := mrtest.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func heldIs(c *orchestrator.Client, want map[string]string) func() bool {
	return func() bool { return fmt.Sprint(c.Held()) == fmt.Sprint(want) }
}

// TestClusterProtocol replays an orchestrator's event sequences against a
// node's model set of remote models (§6.3): init, a new deployment that
// replaces an old one, a stale STOPPED of the old deployment that must not
// close the new one, a model that joins a running node (warmed up with the
// last tick before its first predict), a model that leaves (ABSENT), a
// reconnect whose init drops a model, a BAD_IMPLEMENTATION reported, and
// a report_failure queued while disconnected and sent after the reconnect.
func TestClusterProtocol(t *testing.T) {
	o := orchtest.Start(t, "crunch-1")
	recA, recB1, recB2, recC := &recorder{}, &recorder{}, &recorder{}, &recorder{}
	a := startRunner(t, recA.handler("a"))
	b1 := startRunner(t, recB1.handler("b1"))
	b2 := startRunner(t, recB2.handler("b2"))
	cSrv := startRunner(t, recC.handler("c"))

	var client *orchestrator.Client
	var clientMu sync.Mutex
	opts := host.Options{CallTimeout: 3 * time.Second, RestartBackoffMin: 20 * time.Millisecond, RestartBackoffMax: 100 * time.Millisecond,
		OnEvent: func(e host.Event) {
			clientMu.Lock()
			defer clientMu.Unlock()
			if client != nil {
				client.HostEvent(e)
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ms, err := host.StartModels(ctx, nil, opts) // only orchestrator models
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	h, p := o.HostPort(t)
	cl, err := orchestrator.New(orchestrator.Config{Host: h, Port: p, CrunchID: "crunch-1", BaseClass: "tracker.TrackerBase", Fleet: ms,
		RetryInterval: 200 * time.Millisecond, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clientMu.Lock()
	client = cl
	clientMu.Unlock()
	runDone := make(chan error, 1)
	rctx, rcancel := context.WithCancel(ctx)
	go func() { runDone <- cl.Run(rctx) }()
	defer func() {
		rcancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	predict := func(arg string) map[string]host.CallResult {
		return ms.Predict(ctx, []json.RawMessage{json.RawMessage(arg)}, nil)
	}
	ready := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if err := ms.WaitReady(ctx, id); err != nil {
				t.Fatalf("model %s: %v", id, err)
			}
		}
	}

	// 1. init: a and b (deployment b1).
	conn := o.Accept(t)
	orchtest.Send(t, conn, orchestrator.EventInit, entry("a", "a1", "RUNNING", a), entry("b", "b1", "RUNNING", b1))
	eventually(t, "a and b held", heldIs(cl, map[string]string{"a": "a1", "b": "b1"}))
	ready("a", "b")
	ms.Tick(ctx, json.RawMessage(`{"history": 1}`))
	res := predict(`"x"`)
	if string(res["a"].Output) != `"a"` || string(res["b"].Output) != `"b1"` {
		t.Fatalf("after init: %+v", res)
	}

	// 2. b's new deployment b2 replaces b1; the stale STOPPED of b1 that
	// arrives afterwards must not close b2.
	orchtest.Send(t, conn, orchestrator.EventUpdate, entry("b", "b2", "RUNNING", b2))
	orchtest.Send(t, conn, orchestrator.EventUpdate, entry("b", "b1", "STOPPED", b1))
	// 3. c joins the running node.
	orchtest.Send(t, conn, orchestrator.EventUpdate, entry("c", "c1", "RUNNING", cSrv))
	eventually(t, "b2 and c held", heldIs(cl, map[string]string{"a": "a1", "b": "b2", "c": "c1"}))
	ready("b", "c")
	res = predict(`"y"`)
	if string(res["b"].Output) != `"b2"` || string(res["c"].Output) != `"c"` || res["a"].Status != host.StatusSuccess {
		t.Fatalf("after b2 and c joined: %+v", res)
	}
	if got := recC.list(); len(got) < 2 || got[0] != `tick {"history": 1}` || got[1] != `predict "y"` {
		t.Fatalf("c: expected the warm-up tick with the last history before its first predict, found %q", got)
	}
	for _, st := range ms.States() {
		if st.ID == "b" && (st.Deployment != "b2" || st.Name != "name-b" || st.PlayerID != "cruncher-b") {
			t.Fatalf("b's state: expected deployment b2 with its infos, found %+v", st)
		}
	}

	// 4. a leaves: ABSENT from now on (the non-answer rules).
	orchtest.Send(t, conn, orchestrator.EventUpdate, entry("a", "a1", "STOPPED", nil))
	eventually(t, "a retired", heldIs(cl, map[string]string{"b": "b2", "c": "c1"}))
	res = predict(`"z"`)
	if res["a"].Status != host.StatusAbsent || res["b"].Status != host.StatusSuccess || res["c"].Status != host.StatusSuccess {
		t.Fatalf("after a left: a %s, b %s, c %s", res["a"].Status, res["b"].Status, res["c"].Status)
	}

	// 5. c answers BAD_IMPLEMENTATION: stopped and reported.
	res = predict(`"bad"`)
	if res["c"].Status != host.StatusBadImplementation {
		t.Fatalf("c: expected BAD_IMPLEMENTATION, found %s", res["c"].Status)
	}
	select {
	case ev := <-o.Got:
		var fs []orchestrator.Failure
		if ev.Event != orchestrator.EventReportFailure || json.Unmarshal(ev.Data, &fs) != nil || len(fs) != 1 ||
			fs[0].ModelID != "c" || fs[0].Code != orchestrator.FailureBadImplementation || fs[0].IP != "127.0.0.1" || fs[0].Reason == nil {
			t.Fatalf("expected report_failure c BAD_IMPLEMENTATION, found %s %s", ev.Event, ev.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no report_failure for c's BAD_IMPLEMENTATION")
	}

	// 6. The connection drops; a report made while disconnected is queued
	// and sent after the reconnect; the new init lists only b, so c is
	// dropped.
	_ = conn.CloseNow()
	eventually(t, "the node sees the loss", func() bool { return !cl.Connected() })
	cl.Report(orchestrator.Failure{ModelID: "b", Code: orchestrator.FailureMultipleTimeout, IP: "127.0.0.1"})
	conn = o.Accept(t)
	orchtest.Send(t, conn, orchestrator.EventInit, entry("b", "b2", "RUNNING", b2))
	eventually(t, "c dropped by the init", heldIs(cl, map[string]string{"b": "b2"}))
	select {
	case ev := <-o.Got:
		var fs []orchestrator.Failure
		if ev.Event != orchestrator.EventReportFailure || json.Unmarshal(ev.Data, &fs) != nil || len(fs) != 1 ||
			fs[0].ModelID != "b" || fs[0].Code != orchestrator.FailureMultipleTimeout || fs[0].Reason != nil {
			t.Fatalf("expected the queued report_failure b MULTIPLE_TIMEOUT, found %s %s", ev.Event, ev.Data)
		}
		if !strings.Contains(string(ev.Data), `"failure_reason":null`) {
			t.Fatalf("an empty reason must be null: %s", ev.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the queued report_failure was not sent after the reconnect")
	}
	eventually(t, "queue flushed", func() bool { return cl.Queued() == 0 })
	res = predict(`"w"`)
	if res["b"].Status != host.StatusSuccess || string(res["b"].Output) != `"b2"` || res["a"].Status != host.StatusAbsent || res["c"].Status != host.StatusAbsent {
		t.Fatalf("after the reconnect: a %s, b %s %s, c %s", res["a"].Status, res["b"].Status, res["b"].Output, res["c"].Status)
	}

	// 7. a comes back with a new deployment: revived.
	orchtest.Send(t, conn, orchestrator.EventUpdate, entry("a", "a2", "RUNNING", a))
	eventually(t, "a back", heldIs(cl, map[string]string{"a": "a2", "b": "b2"}))
	ready("a")
	if res = predict(`"v"`); res["a"].Status != host.StatusSuccess {
		t.Fatalf("a after its new deployment: %s (%v)", res["a"].Status, res["a"].Err)
	}
}

// TestConnectionFailedReported: a RUNNING deployment nobody serves is
// reported CONNECTION_FAILED after five failed connect attempts.
func TestConnectionFailedReported(t *testing.T) {
	o := orchtest.Start(t, "crunch-2")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	_ = lis.Close()
	var client *orchestrator.Client
	var mu sync.Mutex
	opts := host.Options{StartTimeout: 200 * time.Millisecond, RestartBackoffMin: 10 * time.Millisecond, RestartBackoffMax: 20 * time.Millisecond,
		MaxConsecutiveFailures: 100,
		OnEvent: func(e host.Event) {
			mu.Lock()
			defer mu.Unlock()
			if client != nil {
				client.HostEvent(e)
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ms, err := host.StartModels(ctx, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	h, p := o.HostPort(t)
	sec, err := modelrunner.LoadSecurity(map[string]string{modelrunner.EnvConnectTimeout: "0.2"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := orchestrator.New(orchestrator.Config{Host: h, Port: p, CrunchID: "crunch-2", BaseClass: "tracker.TrackerBase", Fleet: ms, Security: sec, RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	client = cl
	mu.Unlock()
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() { _ = cl.Run(rctx) }()
	conn := o.Accept(t)
	n, _ := strconv.Atoi(port)
	orchtest.Send(t, conn, orchestrator.EventInit, orchestrator.Entry{ModelID: "gone", DeploymentID: "g1", State: "RUNNING", IP: "127.0.0.1", Port: n})
	select {
	case ev := <-o.Got:
		var fs []orchestrator.Failure
		if json.Unmarshal(ev.Data, &fs) != nil || len(fs) != 1 || fs[0].Code != orchestrator.FailureConnectionFailed || fs[0].ModelID != "gone" {
			t.Fatalf("expected report_failure gone CONNECTION_FAILED, found %s %s", ev.Event, ev.Data)
		}
	case <-ctx.Done():
		t.Fatal("no CONNECTION_FAILED report")
	}
	if r := ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"x"`)}, nil)["gone"]; r.Status != host.StatusAbsent {
		t.Fatalf("gone: expected ABSENT, found %s", r.Status)
	}
}

// TestFromEnv: the protocol is on with host, port and crunch id; half a
// configuration is an error.
func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on      bool
		wantErr string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"MODEL_RUNNER_NODE_HOST": "orch", "MODEL_RUNNER_NODE_PORT": "8001", "CRUNCH_ID": "c"}, true, ""},
		{map[string]string{"MODEL_RUNNER_NODE_HOST": "orch"}, false, "needs both"},
		{map[string]string{"MODEL_RUNNER_NODE_HOST": "orch", "MODEL_RUNNER_NODE_PORT": "x", "CRUNCH_ID": "c"}, false, "expected a port"},
		{map[string]string{"MODEL_RUNNER_NODE_HOST": "orch", "MODEL_RUNNER_NODE_PORT": "8001"}, false, "needs CRUNCH_ID"},
	} {
		_, _, _, on, err := orchestrator.FromEnv(tc.env)
		if on != tc.on || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: on %v err %v, expected on %v err containing %q", tc.env, on, err, tc.on, tc.wantErr)
		}
	}
}
