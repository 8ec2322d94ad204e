package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// TestRemoteModelsSeveralPredictNodes: three nodes (each with its own
// store connection pool, as three processes would have) predict for the
// same three remote models over the same slots at the same time on one
// PostgreSQL database: every node calls every model, yet each (model,
// prediction config, slot) is stored exactly once, answered.
func TestRemoteModelsSeveralPredictNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("three replaying nodes with a built challenge plugin on PostgreSQL (slow); run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dbURL := testutil.ScratchDatabase(t, "remote_nodes")
	b := newBaselineNode(t, ctx, nil)
	runners := map[string]*mrtest.Server{}
	var entries []config.ModelConfig
	for i, pUp := range []float64{0.3, 0.5, 0.7} {
		id := fmt.Sprintf("remote-%d", i)
		runners[id] = startConstantRunner(t, pUp)
		entries = append(entries, config.ModelConfig{ID: id, Address: runners[id].Addr(), Name: id, PlayerID: "p-" + id, PlayerName: "remote"})
	}
	b.setModels(t, entries)
	const nodes = 3
	var ns []*replayNode
	for i := range nodes {
		st := openStore(t, dbURL) // one pool per node; each migrates (idempotent)
		n := b.start(t, ctx, st, fmt.Sprintf("node-%d", i), nil)
		for id := range runners {
			n.waitRunning(t, id, true)
		}
		ns = append(ns, n)
	}
	first := ns[0].rp.First()
	until := first.Add(90 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prog, err := n.Replay(ctx, n.rp, n.sim, node.ReplayOptions{From: first, Until: until.Add(-n.rp.Step())})
			if err == nil && (prog.CycleErrors != 0 || prog.Cycles == 0) {
				err = fmt.Errorf("%d cycles, %d failed", prog.Cycles, prog.CycleErrors)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node-%d replay: %v", i, err)
		}
	}

	st := openStore(t, dbURL)
	preds := listPredictions(t, ctx, st)
	type key struct{ model, config, slot string }
	seen := map[key]int{}
	slots := map[string]bool{}
	for _, p := range preds {
		var meta struct {
			Slot string `json:"slot"`
		}
		if err := json.Unmarshal(p.Meta, &meta); err != nil || meta.Slot == "" {
			t.Fatalf("prediction %s: expected meta with the slot, found %s (%v)", p.ID, p.Meta, err)
		}
		k := key{p.ModelID, p.PredictionConfigID, meta.Slot}
		seen[k]++
		slots[meta.Slot] = true
		if p.Status != store.StatusSuccess {
			t.Errorf("model %s, slot %s: %s, expected SUCCESS", p.ModelID, meta.Slot, p.Status)
		}
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("model %s, config %s, slot %s: %d rows, expected 1", k.model, k.config, k.slot, c)
		}
	}
	if len(slots) < 60 || len(seen) != len(slots)*len(runners) {
		t.Fatalf("expected one row per model and slot (%d models × %d slots, at least 60 slots), found %d keys", len(runners), len(slots), len(seen))
	}
	// Every node predicted: each runner answered (tick + predict) for
	// more slots than one node alone would have called it.
	for id, r := range runners {
		if calls := r.Calls.Load(); calls <= int64(2*len(slots)) {
			t.Errorf("runner %s: %d calls for %d slots, expected more than one node's %d", id, calls, len(slots), 2*len(slots))
		}
	}
	t.Logf("%d nodes, %d models, %d slots: %d rows, none duplicated", nodes, len(runners), len(slots), len(preds))
}
