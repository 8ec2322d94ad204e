package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// testInputs: an inference input is stored once per distinct content
// (table inputs), however many predictions and cycles share it, and every
// read (ListPredictions, WindowPredictions) returns it with its InputID;
// ClaimAndScore returns the InputID alone.
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
		if len(claimed) != 6 {
			t.Errorf("ClaimAndScore: claimed %d, want 6", len(claimed))
		}
		for _, p := range claimed { // scoring never reads the input
			if p.InferenceInput != nil || p.InputID == "" {
				t.Errorf("ClaimAndScore: %s input %.20s, input id %q; want nil and set", p.ID, p.InferenceInput, p.InputID)
			}
		}
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

// testInputsSlidingWindow: inputs that are successive windows over the same
// data (the baseline pack's last 120 candles, stored compressed as deltas
// with a keyframe every inputcodec.KeyframeInterval inputs of a stream)
// read back byte for byte, over several keyframe boundaries and two
// interleaved streams, through ListPredictions, WindowPredictions and
// ClaimAndScore; an input already stored (a retried cycle) is not stored
// twice and the inputs after it still read back.
func testInputsSlidingWindow(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	const cycles = 2*inputcodec.KeyframeInterval + 3
	want := map[string][]byte{} // prediction id -> input text
	models := []store.Model{model("m1"), model("m2")}
	save := func(i int, prefix string) {
		t.Helper()
		slot := base.Add(time.Duration(i) * time.Minute)
		var ps []store.Prediction
		for s, scope := range []string{"BTC-60-60", "ETH-60-60"} {
			input := candleWindow(i+s*1000, 120)
			for _, m := range []string{"m1", "m2"} {
				p := pred(prefix+itoa(i)+scope+m, m, slot, slot.Add(time.Minute))
				p.ScopeKey = scope
				p.InferenceInput = append(json.RawMessage(nil), input...)
				want[p.ID] = input
				ps = append(ps, p)
			}
		}
		_, err := s.SavePredictCycle(ctx, models, ps)
		must(t, err, "SavePredictCycle")
	}
	for i := range cycles {
		save(i, "P")
		models = nil
		if i == inputcodec.KeyframeInterval+4 {
			save(i-1, "R") // the previous cycle's inputs again
		}
	}
	n, err := s.CountInputs(ctx)
	must(t, err, "CountInputs")
	if n != 2*cycles {
		t.Fatalf("CountInputs = %d, want %d (two streams, %d cycles, one repeated)", n, 2*cycles, cycles)
	}
	check := func(what string, ps []store.Prediction) {
		t.Helper()
		for _, p := range ps {
			if w := want[p.ID]; !bytes.Equal(p.InferenceInput, w) {
				t.Fatalf("%s: %s input: %d bytes, not the %d stored (%.60s...)", what, p.ID, len(p.InferenceInput), len(w), p.InferenceInput)
			}
			if p.InputID != store.InputID(want[p.ID]) {
				t.Fatalf("%s: %s InputID = %q, want %q", what, p.ID, p.InputID, store.InputID(want[p.ID]))
			}
		}
	}
	all, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	if len(all) != len(want) {
		t.Fatalf("ListPredictions: %d predictions, want %d", len(all), len(want))
	}
	check("ListPredictions", all)
	// One at a time: each read decodes its chain on its own.
	for _, p := range all[len(all)-8:] {
		one, err := s.ListPredictions(ctx, store.PredictionQuery{ModelIDs: []string{p.ModelID}, From: p.PerformedAt, To: p.PerformedAt.Add(time.Millisecond), Limit: 1})
		must(t, err, "ListPredictions of one")
		check("ListPredictions of one", one)
	}
	claimed, err := s.ClaimAndScore(ctx, base.Add(time.Duration(cycles+5)*time.Minute), 7, func(_ context.Context, ps []store.Prediction) ([]store.ScoreUpdate, error) {
		for _, p := range ps { // a claim carries the input's id, not the input
			if p.InferenceInput != nil || p.InputID != store.InputID(want[p.ID]) {
				t.Fatalf("ClaimAndScore: %s input %.20s, InputID %q; want none and %q", p.ID, p.InferenceInput, p.InputID, store.InputID(want[p.ID]))
			}
		}
		return scoreAll(0.25)(ctx, ps)
	})
	must(t, err, "ClaimAndScore")
	if claimed != 7 {
		t.Fatalf("ClaimAndScore claimed %d, want 7", claimed)
	}
	win, err := s.WindowPredictions(ctx, "m2", time.Time{}, time.Time{}, 0)
	must(t, err, "WindowPredictions")
	check("WindowPredictions", win)
	// A second Store on the same database (another process, or this one
	// after a restart) remembers nothing: it decodes every chain from the
	// stored rows, and its first input of each stream is a keyframe.
	s2 := open(t)
	all, err = s2.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "second store: ListPredictions")
	check("second store: ListPredictions", all)
	for _, p := range all[len(all)-6:] {
		one, err := s2.ListPredictions(ctx, store.PredictionQuery{ModelIDs: []string{p.ModelID}, From: p.PerformedAt, To: p.PerformedAt.Add(time.Millisecond), Limit: 1})
		must(t, err, "second store: ListPredictions of one")
		check("second store: ListPredictions of one", one)
	}
	s = s2
	for i := cycles; i < cycles+3; i++ {
		save(i, "S")
	}
	all, err = s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "second store: ListPredictions after saving")
	check("second store: ListPredictions after saving", all)
}

// candleWindow returns compact JSON like the baseline pack's input: the
// scope envelope and n one-minute candles starting at minute first, so
// candleWindow(i+1, n) shares n-1 candles with candleWindow(i, n).
func candleWindow(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"_scope":{"scope_key":"BTC-60-60"},"asset":"BTC","candles":[`)
	for k := first; k < first+n; k++ {
		if k > first {
			b.WriteByte(',')
		}
		p := 23000 + float64(k*7919%1000)/100
		fmt.Fprintf(&b, `{"ts":%q,"open":%v,"close":%v,"volume":%v}`,
			base.Add(time.Duration(k)*time.Minute).Format(time.RFC3339), p, p+0.5, float64(k%97)/8)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// testInputsBlock: a block of cycles saved in one SavePredictCycle (a
// replay's block of simulated time) reads back byte for byte, over more
// cycles than inputcodec.MaxChain (the in-batch chain restarts at a
// keyframe every inputcodec.KeyframeInterval inputs); and a block holding
// an input that another store (another writer on the same database)
// already stored, with inputs of the same stream after it, is saved
// whole, every input readable from a third store.
func testInputsBlock(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	want := map[string][]byte{} // prediction id -> input text
	block := func(prefix string, first, n int) []store.Prediction {
		var ps []store.Prediction
		for i := first; i < first+n; i++ {
			slot := base.Add(time.Duration(i) * time.Minute)
			for k, scope := range []string{"BTC-60-60", "ETH-60-60"} {
				p := pred(prefix+itoa(i)+scope, "m1", slot, slot.Add(time.Minute))
				p.ScopeKey = scope
				p.InferenceInput = candleWindow(i+k*1000, 120)
				want[p.ID] = p.InferenceInput
				ps = append(ps, p)
			}
		}
		return ps
	}
	const long = inputcodec.MaxChain + 6
	n, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, block("A", 0, long))
	must(t, err, "SavePredictCycle of a block")
	if n != 2*long {
		t.Fatalf("SavePredictCycle of a block inserted %d, want %d", n, 2*long)
	}
	// Another writer stores cycle long+2 first; this store's next block
	// (long .. long+4) then holds it in the middle of both streams.
	other := open(t)
	_, err = other.SavePredictCycle(ctx, nil, block("O", long+2, 1))
	must(t, err, "other store: SavePredictCycle")
	n, err = s.SavePredictCycle(ctx, nil, block("B", long, 5))
	must(t, err, "SavePredictCycle of a block over another writer's input")
	if n != 10 {
		t.Fatalf("SavePredictCycle over another writer's input inserted %d, want 10", n)
	}
	if c, err := s.CountInputs(ctx); err != nil || c != 2*(long+5) {
		t.Fatalf("CountInputs = %d, %v; want %d", c, err, 2*(long+5))
	}
	third := open(t)
	all, err := third.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "third store: ListPredictions")
	if len(all) != len(want) {
		t.Fatalf("ListPredictions: %d predictions, want %d", len(all), len(want))
	}
	for _, p := range all {
		if w := want[p.ID]; !bytes.Equal(p.InferenceInput, w) {
			t.Fatalf("%s input: %d bytes, not the %d stored (%.60s...)", p.ID, len(p.InferenceInput), len(w), p.InferenceInput)
		}
	}
}
