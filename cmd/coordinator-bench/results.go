package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Metric is one measured quantity of a Result with one value per run.
type Metric struct {
	Name string // "p50", "p99", "predictions/s", ...
	Unit string // "ms", "/s", "MiB", "s", "×"
	Runs []float64
}

// Summary summarises the runs.
func (m Metric) Summary() Summary { return Summarize(m.Runs) }

// Result is one measurement (one row group of the report).
type Result struct {
	Section string // "floor", "pipeline", ...
	Name    string
	Backend string // "postgres", "sqlite" or ""
	// N is the model count of pipeline results; Batch the claim batch
	// size of scoring results (0 otherwise).
	N, Batch int
	Metrics  []Metric
	// Err is set when the measurement failed; it is reported, not hidden.
	Err error
}

// Metric returns the named metric, or false.
func (r *Result) Metric(name string) (Metric, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// median returns the median of the named metric, NaN when missing.
func (r *Result) median(name string) float64 {
	m, ok := r.Metric(name)
	if !ok {
		return math.NaN()
	}
	return m.Summary().Median
}

// Target is one goal of issue 8 checked against a measurement.
type Target struct {
	Goal     string  // "Pipeline p50, 10 models (postgres)"
	Limit    string  // "≤ 2 ms"
	Measured float64 // median over runs; NaN = not measured
	Unit     string
	Pass     bool
	Note     string
	// Floor is what this machine does at best for the same work (0 = no
	// floor measured): the no-op plugins' figure of the same path. For a
	// time it is a time, for a throughput a throughput; Ratio turns both
	// into "times the floor's cost".
	Floor float64
}

// Ratio is the measurement's cost in multiples of its floor's cost
// (measured / floor for a time, floor / measured for a throughput, so
// 1.0 means as fast as the floor); NaN without a floor or a measurement.
func (t Target) Ratio() float64 {
	if t.Floor <= 0 || math.IsNaN(t.Measured) || t.Measured <= 0 {
		return math.NaN()
	}
	if strings.HasPrefix(t.Limit, "≥") {
		return t.Floor / t.Measured
	}
	return t.Measured / t.Floor
}

// withFloor returns t with its floor set.
func (t Target) withFloor(floor float64) Target {
	t.Floor = floor
	return t
}

// Status renders PASS, MISS or "not measured".
func (t Target) Status() string {
	switch {
	case math.IsNaN(t.Measured):
		return "not measured"
	case t.Pass:
		return "PASS"
	}
	return "MISS"
}

// atMost builds a target "measured ≤ limit".
func atMost(goal string, measured, limit float64, unit, note string) Target {
	return Target{Goal: goal, Limit: fmt.Sprintf("≤ %s %s", num(limit), unit), Measured: measured, Unit: unit,
		Pass: !math.IsNaN(measured) && measured <= limit, Note: note}
}

// atLeast builds a target "measured ≥ limit".
func atLeast(goal string, measured, limit float64, unit, note string) Target {
	return Target{Goal: goal, Limit: fmt.Sprintf("≥ %s %s", num(limit), unit), Measured: measured, Unit: unit,
		Pass: !math.IsNaN(measured) && measured >= limit, Note: note}
}

// num formats a value with a precision fitting its size.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "–"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
