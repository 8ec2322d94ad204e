package predict

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInvalidOutputIsBounded(t *testing.T) {
	small := invalidOutput("bad", json.RawMessage(`{"result":0.5}`))
	if string(small.Raw) != `{"result":0.5}` || small.Bytes != 14 || len(small.SHA256) != 64 {
		t.Fatalf("small output record %+v", small)
	}
	big := json.RawMessage(`"` + strings.Repeat("é", 40000) + `"`)
	rec := invalidOutput(strings.Repeat("x", 5000), big)
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Raw != nil || rec.Bytes != len(big) || len(b) > 2*MaxErrorBytes+512 {
		t.Fatalf("big output stored as %d bytes: %.300s", len(b), b)
	}
	if got := boundText(strings.Repeat("é", 1000)); len(got) > MaxErrorBytes+len("…") || !strings.HasSuffix(got, "é…") {
		t.Fatalf("boundText cut %q", got[len(got)-10:])
	}
}
