package store

import (
	"math"
	"math/big"
)

// ExactSum adds float64 values without rounding: Float64 returns their
// exact sum rounded once to the nearest float64 (ties to even), whatever
// the order they were added in, and however they were split between sums
// merged with AddSum. It is the rule of the SQLite backend's
// ModelScoreStat.Sum: a window's sum is the same number whether computed
// alone or merged from the bands of several windows, and two models with
// the same scores get the same sum.
//
// It keeps Shewchuk's non-overlapping partials (the algorithm of Python's
// math.fsum; usually two or three float64s); a sum whose partials would
// overflow continues in a math/big.Float wide enough to hold any sum of
// float64 values exactly. ±Inf and NaN values give the IEEE sum of the
// non-finite values added (the store refuses them in scores). The zero
// value is an empty sum (0).
type ExactSum struct {
	partials []float64 // non-overlapping, by increasing magnitude, none 0
	wide     *big.Float
	special  float64 // sum of the ±Inf and NaN values added
	anySpec  bool
}

// exactPrec is a big.Float precision that holds any sum of float64
// values exactly: the bits from 2^-1074 (the smallest subnormal) to 2^1087
// (2^63 values of at most 2^1024).
const exactPrec = 2200

// Add adds v.
func (s *ExactSum) Add(v float64) {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		s.special += v
		s.anySpec = true
		return
	case v == 0:
		return
	case s.wide != nil:
		s.wide.Add(s.wide, new(big.Float).SetFloat64(v))
		return
	}
	x, kept := v, 0
	for j, y := range s.partials {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		if math.IsInf(hi, 0) {
			// x + y overflows: the sum so far is partials[:kept], x, y
			// and partials[j+1:].
			s.widen(append(append(s.partials[:kept:kept], x, y), s.partials[j+1:]...))
			return
		}
		if lo := y - (hi - x); lo != 0 {
			s.partials[kept] = lo
			kept++
		}
		x = hi
	}
	s.partials = append(s.partials[:kept], x)
}

// widen continues the sum in s.wide, starting from the exact sum of parts.
func (s *ExactSum) widen(parts []float64) {
	s.wide = new(big.Float).SetPrec(exactPrec)
	for _, p := range parts {
		s.wide.Add(s.wide, new(big.Float).SetFloat64(p))
	}
	s.partials = nil
}

// AddSum adds every value added to o (o is unchanged).
func (s *ExactSum) AddSum(o *ExactSum) {
	if o.anySpec {
		s.special += o.special
		s.anySpec = true
	}
	if o.wide != nil {
		if s.wide == nil {
			s.widen(s.partials)
		}
		s.wide.Add(s.wide, o.wide)
		return
	}
	for _, p := range o.partials {
		s.Add(p)
	}
}

// Float64 returns the sum rounded to the nearest float64 (ties to even;
// ±Inf beyond the float64 range; 0 for an empty sum). With a ±Inf or NaN
// value added it is the IEEE sum of those values.
func (s *ExactSum) Float64() float64 {
	switch {
	case s.anySpec:
		return s.special
	case s.wide != nil:
		f, _ := s.wide.Float64()
		return f
	case len(s.partials) == 0:
		return 0
	case len(s.partials) == 1:
		return s.partials[0]
	}
	w := new(big.Float).SetPrec(exactPrec)
	for _, p := range s.partials {
		w.Add(w, new(big.Float).SetFloat64(p))
	}
	f, _ := w.Float64()
	return f
}
