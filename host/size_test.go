package host

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// The cheap request-size bounds must never be below the real JSON size, or
// an oversized request would be sent instead of refused with
// ErrRequestTooLarge.
func TestSizeBoundsAreUpperBounds(t *testing.T) {
	nasty := "<>&\u2028\u2029\x01\x1f\"\\é" + string([]byte{0xff, 0xfe})
	v := 1.5
	raws := []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`{"a" : [1, 2, "<&>"] , "b":"\u2028"}`),
		json.RawMessage(`"` + strings.Repeat("<", 50) + `"`), json.RawMessage(" \n\t{ \"x\" :\r null } ")}
	for i, raw := range raws {
		recs := []sdk.PredictionRecord{{
			ID: nasty, ModelID: nasty, PredictionConfigID: nasty, ScopeKey: nasty, Scope: raw, Status: nasty,
			ExecTimeMs: -1.2345678901234567e-300, InferenceInput: raw, InferenceOutput: raw, Meta: raw,
			PerformedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600)), ResolvableAt: time.Time{},
			Score: &sdk.PredictionScore{Value: &v, FailedReason: nasty, ScoredAt: time.Now()},
		}, {}}
		vals := []sdk.ValidationItem{{ModelID: nasty, ScopeKey: nasty, InferenceOutput: raw}, {}}
		scores := []sdk.ScoreItem{{PredictionID: nasty, Prediction: raw, GroundTruth: raw}, {}}
		for _, c := range []struct {
			name  string
			bound int
			v     any
		}{
			{"records", recordsBound(recs), recs},
			{"records (none)", recordsBound(nil), []sdk.PredictionRecord{}},
			{"validation items", validationBound(vals), vals},
			{"score items", scoreItemsBound(scores), scores},
		} {
			if exact := marshalSize(c.v); exact > c.bound {
				t.Errorf("raw %d, %s: bound %d below the JSON size %d", i, c.name, c.bound, exact)
			}
			if got := sizeOrBound(c.bound, c.v); got != c.bound {
				t.Errorf("raw %d, %s: sizeOrBound = %d, want the bound %d (within the limit)", i, c.name, got, c.bound)
			}
		}
	}
	// A bound over the limit is replaced by the exact size.
	small := []sdk.ScoreItem{{PredictionID: "p", Prediction: json.RawMessage(`{"p_up":0.5}`)}}
	if got, want := sizeOrBound(maxRequestPayload()+1, small), marshalSize(small); got != want {
		t.Errorf("over the limit: sizeOrBound = %d, want the exact size %d", got, want)
	}
}

func TestIsObjectMatchesUnmarshal(t *testing.T) {
	for _, doc := range []string{``, ` `, `null`, ` null `, `{}`, ` {"a":1} `, `{"a":}`, `{"a":1}x`, `[]`, `"{"`, `1`, `{"a":"\xff"}`, "\t{\n}\r"} {
		var m map[string]json.RawMessage
		want := json.Unmarshal([]byte(doc), &m) == nil && m != nil
		if got := sdk.IsJSONObject([]byte(doc)); got != want {
			t.Errorf("sdk.IsJSONObject(%q) = %v, want %v", doc, got, want)
		}
	}
}
