package sdk

import "testing"

func TestJSONKindAndIsJSONObject(t *testing.T) {
	cases := []struct {
		in     string
		kind   string
		object bool
	}{
		{"", "null", false},
		{" null ", "null", false},
		{`{"a":1}`, "object", true},
		{" \n{}", "object", true},
		{`{"a":`, "invalid JSON", false},
		{`[1]`, "array", false},
		{`"s"`, "string", false},
		{`true`, "bool", false},
		{`-1.5e3`, "number", false},
		{`NaN`, "invalid JSON", false},
	}
	for _, c := range cases {
		if got := JSONKind([]byte(c.in)); got != c.kind {
			t.Errorf("JSONKind(%q) = %q, want %q", c.in, got, c.kind)
		}
		if got := IsJSONObject([]byte(c.in)); got != c.object {
			t.Errorf("IsJSONObject(%q) = %v, want %v", c.in, got, c.object)
		}
	}
}
