package main

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of xs (the mean of the two middle values when
// len(xs) is even), NaN when xs is empty. xs is not modified.
func Median(xs []float64) float64 {
	return Percentile(xs, 50)
}

// Percentile returns the p-th percentile (p in [0, 100]) of xs by linear
// interpolation between closest ranks (Hyndman–Fan type 7, numpy's
// default): rank h = (n-1)·p/100, value = x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋])
// over the sorted values. Percentile(xs, 50) equals Median(xs). It returns
// NaN for an empty xs or a p outside [0, 100]. xs is not modified.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 || p < 0 || p > 100 || math.IsNaN(p) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	h := float64(len(s)-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Summary is the spread of one metric over repeated runs.
type Summary struct {
	Median, Min, Max float64
	// N is the number of runs summarised.
	N int
}

// Summarize returns the median, min and max of xs (NaN fields and N 0 for
// an empty xs).
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		nan := math.NaN()
		return Summary{Median: nan, Min: nan, Max: nan}
	}
	return Summary{Median: Median(xs), Min: slices.Min(xs), Max: slices.Max(xs), N: len(xs)}
}

// Latencies collects per-call wall times.
type Latencies []time.Duration

// Ms returns the latencies in milliseconds.
func (l Latencies) Ms() []float64 {
	out := make([]float64, len(l))
	for i, d := range l {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// P returns the p-th percentile in milliseconds (see Percentile).
func (l Latencies) P(p float64) float64 { return Percentile(l.Ms(), p) }
