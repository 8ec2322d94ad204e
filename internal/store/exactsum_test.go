package store

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactRef is the exact sum of vs (all finite) rounded once to float64,
// through a big.Float wide enough to hold it.
func exactRef(vs []float64) float64 {
	w := new(big.Float).SetPrec(exactPrec)
	for _, v := range vs {
		w.Add(w, new(big.Float).SetFloat64(v))
	}
	f, _ := w.Float64()
	return f
}

func sumOf(vs []float64) float64 {
	var s ExactSum
	for _, v := range vs {
		s.Add(v)
	}
	return s.Float64()
}

func TestExactSumCases(t *testing.T) {
	ulp1 := math.Nextafter(1, 2) - 1 // 2^-52
	mx := math.MaxFloat64
	for _, c := range []struct {
		name string
		vs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{2.5}, 2.5},
		{"zeros", []float64{0, math.Copysign(0, -1)}, 0},
		{"cancelling", []float64{1e100, 1, -1e100}, 1},
		{"tenths", []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, 1},
		// 1 + 2^-53 lies halfway between 1 and 1+2^-52: ties to even.
		{"half way, to even", []float64{1, ulp1 / 2}, 1},
		{"just past half way", []float64{1, ulp1 / 2, 1e-300}, 1 + ulp1},
		{"half way split", []float64{1, ulp1 / 4, ulp1 / 4}, 1},
		{"odd half way, to even", []float64{1 + ulp1, ulp1 / 2}, 1 + 2*ulp1},
		{"subnormals", []float64{5e-324, 5e-324, -1e-323, 5e-324}, 5e-324},
		{"overflow and back", []float64{mx, mx, -mx}, mx},
		{"overflow, several", []float64{mx, mx, 1, -mx, -mx, 3}, 4},
		{"beyond float64", []float64{mx, mx}, math.Inf(1)},
		{"beyond float64, negative", []float64{-mx, -mx, 1}, math.Inf(-1)},
		{"infinity", []float64{1, math.Inf(1), 2}, math.Inf(1)},
		{"both infinities", []float64{math.Inf(-1), math.Inf(1)}, math.NaN()},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := sumOf(c.vs)
			if math.Float64bits(got) != math.Float64bits(c.want) && !(math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Fatalf("sum of %v: expected %v (%x), got %v (%x)", c.vs, c.want, math.Float64bits(c.want), got, math.Float64bits(got))
			}
		})
	}
}

// TestExactSumAnyOrderAnySplit: over values of very different magnitudes
// (where float64 addition in order loses bits), the sum is the exact sum
// rounded once, in any order, and when the values are split between sums
// merged with AddSum.
func TestExactSumAnyOrderAnySplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 16))
	inexact := 0
	for round := range 300 {
		vs := make([]float64, 1+rng.IntN(400))
		for i := range vs {
			vs[i] = math.Ldexp(rng.NormFloat64(), rng.IntN(120)-60)
			if round%3 == 0 {
				vs[i] = math.Ldexp(rng.NormFloat64(), rng.IntN(2000)-1000) // wider
			}
		}
		want := exactRef(vs)
		naive := 0.0
		for _, v := range vs {
			naive += v
		}
		if naive != want {
			inexact++
		}
		if got := sumOf(vs); got != want {
			t.Fatalf("round %d: sum of %d values: expected %v, got %v", round, len(vs), want, got)
		}
		rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		if got := sumOf(vs); got != want {
			t.Fatalf("round %d, shuffled: expected %v, got %v", round, want, got)
		}
		// Split into bands merged latest first, as ModelScoreStatsWindows does.
		var total ExactSum
		for len(vs) > 0 {
			n := 1 + rng.IntN(len(vs))
			var band ExactSum
			for _, v := range vs[:n] {
				band.Add(v)
			}
			total.AddSum(&band)
			vs = vs[n:]
		}
		if got := total.Float64(); got != want {
			t.Fatalf("round %d, split: expected %v, got %v", round, want, got)
		}
	}
	if inexact < 100 {
		t.Fatalf("only %d of 300 rounds where adding in order is inexact: the values do not test much", inexact)
	}
}

// TestExactSumWideMerge: AddSum of sums gone wide (past the float64 range)
// into narrow ones and back.
func TestExactSumWideMerge(t *testing.T) {
	mx := math.MaxFloat64
	var a, b, c ExactSum
	a.Add(mx)
	a.Add(mx) // wide
	b.Add(-mx)
	b.Add(0.5)
	c.AddSum(&b) // narrow into narrow
	c.AddSum(&a) // wide into narrow
	c.Add(-mx)
	if got := c.Float64(); got != 0.5 {
		t.Fatalf("mx + mx - mx + 0.5 - mx: expected 0.5, got %v", got)
	}
	a.AddSum(&b) // narrow into wide
	if got, want := a.Float64(), mx+0.5; got != want {
		t.Fatalf("mx + mx - mx + 0.5: expected %v, got %v", want, got)
	}
}
