package report

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestFlattenScopeAliases: the real UI's default filters read "subject" and
// "horizon"; the packs' scope templates say asset and horizon_seconds.
func TestFlattenScopeAliases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope string
		row   map[string]any
		want  map[string]any
	}{
		{"pack scope", `{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`, map[string]any{},
			map[string]any{"asset": "BTC", "subject": "BTC", "horizon_seconds": 60.0, "horizon": 60.0, "step_seconds": 60.0, "step": 60.0}},
		{"scope with the UI names keeps its values", `{"asset":"BTC","subject":"XBT","horizon":"1m","horizon_seconds":60}`, map[string]any{},
			map[string]any{"asset": "BTC", "subject": "XBT", "horizon": "1m", "horizon_seconds": 60.0}},
		{"row keys win", `{"horizon_seconds":300}`, map[string]any{"horizon": "fixed"},
			map[string]any{"horizon": "fixed", "horizon_seconds": 300.0}},
		{"no aliases to add", `{"tournament_mode":"in-sample"}`, map[string]any{},
			map[string]any{"tournament_mode": "in-sample"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flattenScope(tc.row, scopeObject(json.RawMessage(tc.scope)))
			if !reflect.DeepEqual(tc.row, tc.want) {
				t.Errorf("got %v, want %v", tc.row, tc.want)
			}
		})
	}
}
