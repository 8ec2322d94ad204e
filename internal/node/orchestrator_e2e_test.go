package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator/orchtest"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// startConstantRunner serves one remote model (mrtest) answering predict
// with {"p_up": pUp} until the test ends.
func startConstantRunner(t *testing.T, pUp float64) *mrtest.Server {
	t.Helper()
	s, err := mrtest.Start("127.0.0.1:0", mrtest.Constant(json.RawMessage(fmt.Sprintf(`{"p_up": %g}`, pUp))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// TestOrchestratorReplay: a node started by node.Start with no models of
// its own and MODEL_RUNNER_NODE_HOST/PORT and CRUNCH_ID pointing at a test
// orchestrator (§6.3) takes its models from the orchestrator's init event
// (three remote model runners), predicts, scores and ranks them over a
// replay; an update STOPPED takes one out (no answered row while it is
// out) and a new deployment of it, on a new runner, brings it back.
func TestOrchestratorReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with a built challenge plugin (slow); run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const crunch = "btc-up-e2e"
	o := orchtest.Start(t, crunch)
	b := newBaselineNode(t, ctx, o.Env(t, crunch))
	b.setModels(t, nil) // only the orchestrator's models
	if len(b.w.Models) != 0 {
		t.Fatalf("expected no models of the node's own, found %d", len(b.w.Models))
	}
	runners := map[string]*mrtest.Server{"a": startConstantRunner(t, 0.7), "b": startConstantRunner(t, 0.5), "c": startConstantRunner(t, 0.3)}
	st := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "orchestrator.db"))
	n := b.start(t, ctx, st, "orchestrator-e2e", nil)

	conn := o.Accept(t)
	orchtest.Send(t, conn, orchestrator.EventInit,
		orchtest.Entry("a", "a1", "RUNNING", runners["a"].Addr()),
		orchtest.Entry("b", "b1", "RUNNING", runners["b"].Addr()),
		orchtest.Entry("c", "c1", "RUNNING", runners["c"].Addr()))
	for id := range runners {
		n.waitRunning(t, id, true)
	}
	first := n.rp.First()
	t1, t2, t3 := first.Add(time.Hour), first.Add(2*time.Hour), first.Add(3*time.Hour)
	n.replayTo(t, ctx, first, t1)

	orchtest.Send(t, conn, orchestrator.EventUpdate, orchtest.Entry("b", "b1", "STOPPED", runners["b"].Addr()))
	n.waitRunning(t, "b", false)
	n.replayTo(t, ctx, t1, t2)

	b2 := startConstantRunner(t, 0.5) // the new deployment runs elsewhere
	orchtest.Send(t, conn, orchestrator.EventUpdate, orchtest.Entry("b", "b2", "RUNNING", b2.Addr()))
	n.waitRunning(t, "b", true)
	n.replayTo(t, ctx, t2, t3)

	preds := listPredictions(t, ctx, st)
	byModel := map[string][]store.Prediction{}
	for _, p := range preds {
		byModel[p.ModelID] = append(byModel[p.ModelID], p)
	}
	if len(byModel) != 3 {
		t.Fatalf("expected rows of the 3 orchestrator models, found %d: %v", len(byModel), keys(byModel))
	}
	for id, ps := range byModel {
		var ok, out, answeredOut, lostIn int
		for _, p := range ps {
			// A replay to t ends with the cycle at t (the last candle closes
			// at t): the slots of b's stopped span are (t1, t2].
			stopped := id == "b" && p.PerformedAt.After(t1) && !p.PerformedAt.After(t2)
			switch {
			case stopped && p.Status == store.StatusSuccess:
				answeredOut++
			case stopped:
				out++
			case p.Status == store.StatusSuccess:
				ok++
			default:
				lostIn++
				t.Errorf("model %s: row at %s is %s, expected SUCCESS", id, p.PerformedAt.Format(time.RFC3339), p.Status)
			}
		}
		if ok < 100 || answeredOut != 0 || lostIn != 0 {
			t.Errorf("model %s: %d SUCCESS rows (expected at least 100), %d answered while stopped, %d lost", id, ok, answeredOut, lostIn)
		}
		if id == "b" && b2.Calls.Load() == 0 {
			t.Error("model b: the new deployment's runner was never called")
		}
		t.Logf("model %s: %d rows, %d SUCCESS, %d while stopped", id, len(ps), ok, out)
	}
	scored := 0
	for _, p := range preds {
		if p.Score != nil && p.Score.Value != nil {
			scored++
		}
	}
	if scored == 0 {
		t.Fatal("no prediction of an orchestrator model was scored")
	}
	lb, err := st.LatestLeaderboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []lbRow
	if err := json.Unmarshal(lb.Entries, &rows); err != nil {
		t.Fatal(err)
	}
	var ranked []string
	for _, r := range rows {
		if r.Rank > 0 {
			ranked = append(ranked, fmt.Sprintf("%s#%d", r.ModelID, r.Rank))
		}
	}
	if len(ranked) != 3 {
		t.Fatalf("expected the 3 orchestrator models ranked, found %v (%s)", ranked, lb.Entries)
	}
	models, err := st.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string]string{}
	for _, m := range models {
		deps[m.ID] = m.DeploymentID
	}
	if deps["a"] != "a1" || deps["b"] != "b2" || deps["c"] != "c1" {
		t.Errorf("stored deployments: expected a1, b2, c1, found %v", deps)
	}
	t.Logf("%d rows, %d scored, leaderboard %s", len(preds), scored, strings.Join(ranked, " "))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
