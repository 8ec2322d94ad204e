package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testScopes checks that scopes, stored once per distinct content (table
// scopes, migration 00011), read back per prediction exactly as saved:
// predictions sharing a scope across models and cycles, a second scope,
// the empty scope, and a second save of the same rows (nothing new). Rows
// stored inline before 00011 are read by RollupBackfill's downgrade.
func testScopes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	scopes := []string{`{"asset":"BTC","horizon":60}`, `{"asset":"ETH","horizon":300,"step":[1,2]}`, `{}`}
	want := map[string]string{}
	var cycles [][]store.Prediction
	for c := 0; c < 2; c++ {
		var ps []store.Prediction
		for i, sc := range scopes {
			for _, m := range []string{"m1", "m2"} {
				at := base.Add(time.Duration(c*10+i) * time.Minute)
				p := pred(m+"-"+string(rune('a'+c))+string(rune('0'+i)), m, at, at.Add(time.Minute))
				p.Scope = json.RawMessage(sc)
				want[p.ID] = sc
				ps = append(ps, p)
			}
		}
		cycles = append(cycles, ps)
	}
	for i, ps := range cycles {
		n, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, ps)
		must(t, err, "SavePredictCycle")
		if n != len(ps) {
			t.Fatalf("cycle %d: expected %d new predictions, got %d", i, len(ps), n)
		}
	}
	n, err := s.SavePredictCycle(ctx, nil, cycles[0])
	must(t, err, "SavePredictCycle again")
	if n != 0 {
		t.Fatalf("saving the same predictions again: expected 0 new, got %d", n)
	}
	got, err := s.ListPredictions(ctx, store.PredictionQuery{Limit: 100})
	must(t, err, "ListPredictions")
	if len(got) != len(want) {
		t.Fatalf("ListPredictions: expected %d predictions, got %d", len(want), len(got))
	}
	for _, p := range got {
		if ok, err := jsonSame(p.Scope, []byte(want[p.ID])); err != nil || !ok {
			t.Errorf("prediction %s: expected scope %s, got %s", p.ID, want[p.ID], p.Scope)
		}
	}
}
