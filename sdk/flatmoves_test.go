package sdk_test

import (
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/sdk"
)

func TestFlatMoves(t *testing.T) {
	cases := []struct {
		rule            sdk.FlatMoves
		entry, resolved float64
		y               float64
		move            string
		excluded        bool
	}{
		{sdk.FlatDown, 100, 101, 1, "up", false},
		{sdk.FlatDown, 100, 99, 0, "down", false},
		{sdk.FlatDown, 100, 100, 0, "flat", false},
		{sdk.FlatHalf, 100, 101, 1, "up", false},
		{sdk.FlatHalf, 100, 99, 0, "down", false},
		{sdk.FlatHalf, 100, 100, 0.5, "flat", false},
		{sdk.FlatExclude, 100, 101, 1, "up", false},
		{sdk.FlatExclude, 100, 99, 0, "down", false},
		{sdk.FlatExclude, 100, 100, 0, "flat", true},
	}
	for _, c := range cases {
		t.Run(string(c.rule)+"/"+c.move, func(t *testing.T) {
			y, move, excluded := c.rule.Outcome(c.entry, c.resolved)
			if y != c.y || move != c.move || excluded != c.excluded {
				t.Errorf("Outcome(%v, %v) = %v, %q, %v; expected %v, %q, %v", c.entry, c.resolved, y, move, excluded, c.y, c.move, c.excluded)
			}
		})
	}
	for _, s := range []string{"down", "half", "exclude"} {
		if f, err := sdk.ParseFlatMoves(s); err != nil || string(f) != s {
			t.Errorf("ParseFlatMoves(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "Down", "up", "ignore"} {
		if _, err := sdk.ParseFlatMoves(s); err == nil || !strings.Contains(err.Error(), `expected "down", "half" or "exclude"`) {
			t.Errorf("ParseFlatMoves(%q): expected an error naming the allowed values, got %v", s, err)
		}
	}
}
