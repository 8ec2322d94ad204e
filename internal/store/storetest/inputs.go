package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testInputs: an inference input is stored once per distinct content
// (table inputs), however many predictions and cycles share it, and every
// read (ListPredictions, WindowPredictions, ClaimAndScore) returns it with
// its InputID.
func testInputs(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	bigA := `{"close":[` + repeatNumbers(2000) + `],"asset":"BTC"}`
	inA, inB := json.RawMessage(bigA), json.RawMessage(`{"close":[4,5]}`)
	idA, idB := store.InputID(inA), store.InputID(inB)
	if idA == idB || len(idA) != len("INP_")+32 {
		t.Fatalf("InputID: %q and %q", idA, idB)
	}
	cycle := func(slot time.Time, prefix string, input json.RawMessage, models ...string) []store.Prediction {
		var ps []store.Prediction
		for _, m := range models {
			p := pred(prefix+m, m, slot, slot.Add(time.Minute))
			// A copy per prediction: the store must dedupe by content, not
			// by backing array.
			p.InferenceInput = append(json.RawMessage(nil), input...)
			p.InputID = "caller-value-is-replaced"
			ps = append(ps, p)
		}
		return ps
	}
	c1 := append(cycle(base, "C1", inA, "m1", "m2", "m3"), cycle(base, "C1B", inB, "m1")...)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2"), model("m3")}, c1)
	must(t, err, "SavePredictCycle (cycle 1)")
	// A second cycle with the same input content adds no input row.
	_, err = s.SavePredictCycle(ctx, nil, cycle(base.Add(time.Minute), "C2", inA, "m1", "m2"))
	must(t, err, "SavePredictCycle (cycle 2)")
	n, err := s.CountInputs(ctx)
	must(t, err, "CountInputs")
	if n != 2 {
		t.Fatalf("CountInputs = %d, want 2 (one per distinct input, 6 predictions)", n)
	}

	check := func(what string, ps []store.Prediction, want int) {
		t.Helper()
		if len(ps) != want {
			t.Fatalf("%s: got %d predictions, want %d", what, len(ps), want)
		}
		for _, p := range ps {
			wantIn, wantID := inA, idA
			if p.ID == "C1Bm1" {
				wantIn, wantID = inB, idB
			}
			if p.InputID != wantID {
				t.Errorf("%s: %s InputID = %q, want %q", what, p.ID, p.InputID, wantID)
			}
			wantJSON(t, what+" "+p.ID+" inference input", p.InferenceInput, string(wantIn))
		}
	}
	all, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	check("ListPredictions", all, 6)
	bare, err := s.ListPredictions(ctx, store.PredictionQuery{WithoutInput: true})
	must(t, err, "ListPredictions WithoutInput")
	for _, p := range bare {
		if p.InferenceInput != nil || p.InputID == "" {
			t.Errorf("ListPredictions WithoutInput: %s input %.20s, input id %q; want nil and set", p.ID, p.InferenceInput, p.InputID)
		}
	}
	win, err := s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, 0)
	must(t, err, "WindowPredictions")
	check("WindowPredictions", win, 0) // nothing scored yet
	claimedN, err := s.ClaimAndScore(ctx, base.Add(time.Hour), 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		check("ClaimAndScore", claimed, 6)
		return scoreAll(0.5)(ctx, claimed)
	})
	must(t, err, "ClaimAndScore")
	if claimedN != 6 {
		t.Fatalf("ClaimAndScore claimed %d, want 6", claimedN)
	}
	win, err = s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, 0)
	must(t, err, "WindowPredictions")
	check("WindowPredictions", win, 3)
}

// repeatNumbers returns "0.5,1.5,..." with n numbers (a kilobytes-large
// input like a real one).
func repeatNumbers(n int) string {
	b := make([]byte, 0, n*8)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, []byte(json.Number(itoa(i)+".5"))...)
	}
	return string(b)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
