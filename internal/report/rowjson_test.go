package report

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
)

// TestWriteRowsSameBytesAsWriteJSON: the reflection-free chart encoder
// writes exactly what writeJSON writes.
func TestWriteRowsSameBytesAsWriteJSON(t *testing.T) {
	var scope map[string]any
	if err := json.Unmarshal([]byte(`{"asset":"BTC<&>\u2028é","horizon":60,"list":[1,"a",null,true,{"z":1e-7}],"nested":{"b":2,"a":[]},"big":1e21,"neg":-0.000001}`), &scope); err != nil {
		t.Fatal(err)
	}
	rows := []map[string]any{
		{"model_id": "m\"1\\", "score_value": 0.1 + 0.2, "count": 3, "n64": int64(-7), "ok": false, "none": nil, "scope": scope,
			"tiny": 1.5e-9, "huge": 3e22, "zero": 0.0, "negzero": math.Copysign(0, -1), "int_like": 42.0, "ctrl": "a\tb\x01", "metrics": map[string]any{"recent": nil, "steady": 0.25}},
		{},
		{"ranking": map[string]any{"tie_breakers": []any{}, "value": 1234567.891}, "raw": json.RawMessage(`{"x":1}`), "nilslice": []any(nil)},
		// Maps of one size with the same keys (sorted keys reused) and
		// with other keys (sorted again).
		{"b": 1, "a": 2, "c": map[string]any{"y": 1, "x": 2, "z": 3}},
		{"c": 3, "b": 1, "a": map[string]any{"x": 1, "z": 2, "y": 3}},
		{"a": 1, "d": 2, "b": map[string]any{"w": 1, "x": 2, "y": 3}},
		{"d": 1, "a": 2, "b": 3},
	}
	for _, tc := range [][]map[string]any{rows, {}, nil} {
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(a, 200, tc)
		if tc == nil {
			tc = []map[string]any{}
			writeJSON(a, 200, tc)
			a = httptest.NewRecorder()
			writeJSON(a, 200, tc)
		}
		writeRows(b, 200, tc)
		if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) || a.Header().Get("Content-Length") != b.Header().Get("Content-Length") {
			t.Fatalf("writeRows differs from writeJSON:\n%s\n%s", b.Body.Bytes(), a.Body.Bytes())
		}
	}
	b := httptest.NewRecorder()
	writeRows(b, 200, []map[string]any{{"v": math.NaN()}})
	if b.Code != 500 {
		t.Errorf("NaN: status %d, want 500 as writeJSON", b.Code)
	}
}
