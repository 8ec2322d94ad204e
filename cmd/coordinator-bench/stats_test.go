package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, math.NaN()},
		{"p out of range", []float64{1}, 101, math.NaN()},
		{"single", []float64{7}, 99, 7},
		{"odd median", []float64{5, 1, 3}, 50, 3},
		{"even median is the mean of the middle two", []float64{4, 1, 3, 2}, 50, 2.5},
		{"min", []float64{4, 1, 3, 2}, 0, 1},
		{"max", []float64{4, 1, 3, 2}, 100, 4},
		{"p99 of 1..100 interpolates", seq(100), 99, 99.01},
		{"p90 of 1..11", seq(11), 90, 10},
		{"p25 interpolates", []float64{10, 20, 30, 40, 50}, 25, 20},
		{"p10 between ranks", []float64{10, 20}, 10, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percentile(tt.xs, tt.p)
			if math.IsNaN(tt.want) {
				if !math.IsNaN(got) {
					t.Fatalf("Percentile(%v, %v) = %v; want NaN", tt.xs, tt.p, got)
				}
				return
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("Percentile(%v, %v) = %v; want %v", tt.xs, tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileDoesNotReorderInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	_ = Percentile(xs, 50)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("input reordered: %v", xs)
	}
}

func TestMedianAndSummarize(t *testing.T) {
	if got := Median([]float64{9, 1, 5, 7, 3}); got != 5 {
		t.Fatalf("Median = %v; want 5", got)
	}
	s := Summarize([]float64{2.5, 1, 9, 4, 3})
	if s.Median != 3 || s.Min != 1 || s.Max != 9 || s.N != 5 {
		t.Fatalf("Summarize = %+v; want median 3, min 1, max 9, N 5", s)
	}
	if e := Summarize(nil); e.N != 0 || !math.IsNaN(e.Median) || !math.IsNaN(e.Min) || !math.IsNaN(e.Max) {
		t.Fatalf("Summarize(nil) = %+v; want NaNs and N 0", e)
	}
}

func TestLatencies(t *testing.T) {
	l := Latencies{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond}
	if got := l.P(50); math.Abs(got-1.75) > 1e-9 {
		t.Fatalf("P(50) = %v ms; want 1.75", got)
	}
	if got := l.P(100); got != 3 {
		t.Fatalf("P(100) = %v ms; want 3", got)
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}
