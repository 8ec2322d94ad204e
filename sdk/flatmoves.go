package sdk

import "fmt"

// FlatMoves is the rule of an up/down challenge (the baseline pack's) for a
// horizon whose resolved price equals its entry price: a flat move.
// Operators set it with the FLAT_MOVES setting (EnvFlatMoves); each pack
// states its default and why in its README.
type FlatMoves string

// The flat-move rules.
const (
	// FlatDown counts a flat move as "not up": y = 0. Simple, but it rewards
	// p_up below 0.5 wherever flats are frequent (illiquid pairs,
	// zero-volume placeholder candles).
	FlatDown FlatMoves = "down"
	// FlatHalf scores a flat move against y = 0.5: the Brier score stays
	// proper (the best forecast is P(up) + P(flat)/2) and symmetric, and
	// every answered slot is scored.
	FlatHalf FlatMoves = "half"
	// FlatExclude scores a flat move for no one: the prediction is
	// UNRESOLVED with the reason.
	FlatExclude FlatMoves = "exclude"
)

// EnvFlatMoves is the setting (in the node's .local.env, passed to the
// challenge plugin's environment) that overrides the pack's flat-move rule.
const EnvFlatMoves = "FLAT_MOVES"

// ParseFlatMoves reads a FLAT_MOVES value: "down", "half" or "exclude".
// The error says what was expected and found.
func ParseFlatMoves(s string) (FlatMoves, error) {
	switch f := FlatMoves(s); f {
	case FlatDown, FlatHalf, FlatExclude:
		return f, nil
	}
	return "", fmt.Errorf("%s: expected %q, %q or %q, found %q", EnvFlatMoves, FlatDown, FlatHalf, FlatExclude, s)
}

// Outcome returns the outcome y (1 up, 0 down) of a move from entry to
// resolved price, and the name of the move ("up", "down" or "flat"). For a
// flat move y follows f: 0 for FlatDown, 0.5 for FlatHalf; with
// FlatExclude (or an unknown rule) excluded is true and y is 0.
func (f FlatMoves) Outcome(entry, resolved float64) (y float64, move string, excluded bool) {
	switch {
	case resolved > entry:
		return 1, "up", false
	case resolved < entry:
		return 0, "down", false
	}
	switch f {
	case FlatDown:
		return 0, "flat", false
	case FlatHalf:
		return 0.5, "flat", false
	}
	return 0, "flat", true
}
