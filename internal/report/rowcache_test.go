package report

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWriteCachedRowsSameBytes: rows written through a rowCache, built
// (first call) or read from it (second call, a small cache turning its
// generations over), are exactly what writeRows writes without the rows
// left out; an encoding error answers as writeRows does.
func TestWriteCachedRowsSameBytes(t *testing.T) {
	rows := []map[string]any{
		{"model_id": "m\"1\\", "score_value": 0.1 + 0.2, "count": 3, "none": nil, "tiny": 1.5e-9, "scope": map[string]any{"asset": "BTC<&>", "h": 60.0}},
		nil, // left out (a malformed score point)
		{},
		{"b": 1, "a": json.RawMessage(`{"x":1}`), "list": []any{1.0, "a", nil}},
		{"performed_at": ts(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC))},
	}
	var kept []map[string]any
	for _, r := range rows {
		if r != nil {
			kept = append(kept, r)
		}
	}
	want := httptest.NewRecorder()
	writeRows(want, 200, kept)
	c := &rowCache{max: 2}
	built := 0
	for call := range 4 {
		if call == 2 { // another answer in between: the next one is assembled from the rows
			writeCachedRows(httptest.NewRecorder(), c, 1, func(_ int, k rowKey) rowKey { return k.str("other") }, func(int) map[string]any { return map[string]any{} })
		}
		got := httptest.NewRecorder()
		writeCachedRows(got, c, len(rows), func(i int, k rowKey) rowKey { return k.int(int64(i)) }, func(i int) map[string]any {
			built++
			return rows[i]
		})
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || got.Header().Get("Content-Length") != want.Header().Get("Content-Length") || got.Code != 200 {
			t.Fatalf("call %d: writeCachedRows wrote\n%s\nwant\n%s", call, got.Body.Bytes(), want.Body.Bytes())
		}
	}
	// Call 0 builds every row, call 1 is the last answer again, call 2
	// (after another answer) reads the rows still cached and builds the
	// ones the small cache dropped, call 3 is the last answer again.
	if built <= len(rows) || built >= 2*len(rows) {
		t.Errorf("rows built %d times over 4 calls of %d rows: want each once, and some again after eviction", built, len(rows))
	}
	bad := httptest.NewRecorder()
	writeCachedRows(bad, &rowCache{max: 8}, 1, func(_ int, k rowKey) rowKey { return k }, func(int) map[string]any { return map[string]any{"v": math.NaN()} })
	if bad.Code != 500 {
		t.Errorf("NaN: status %d, want 500 as writeRows", bad.Code)
	}
}

// TestRowKeyParts: keys of the same parts (as every key of one endpoint
// is) differ when a part differs, however the bytes are split.
func TestRowKeyParts(t *testing.T) {
	v := 1.0
	for _, group := range []map[string]rowKey{
		{"a|bc": rowKey{}.str("a").str("bc"), "ab|c": rowKey{}.str("ab").str("c"), "|abc": rowKey{}.str("").str("abc")},
		{"nil|x": rowKey{}.optFloat(nil).str("x"), "1|x": rowKey{}.optFloat(&v).str("x")},
		{"zero": rowKey{}.time(time.Time{}).flag(true), "epoch": rowKey{}.time(time.Unix(0, 0)).flag(true)},
		{"raw a|b": rowKey{}.bytes([]byte("a")).bytes([]byte("b")), "raw ab|": rowKey{}.bytes([]byte("ab")).bytes(nil)},
	} {
		keys := map[string]string{}
		for name, k := range group {
			if other, dup := keys[string(k)]; dup {
				t.Errorf("%s and %s have the same key %q", name, other, k)
			}
			keys[string(k)] = name
		}
	}
}
