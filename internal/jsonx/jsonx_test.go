package jsonx

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAbbreviate(t *testing.T) {
	long := strings.Repeat("a", AbbrevRunes+5)
	euros := strings.Repeat("€", AbbrevRunes+1) // 3 bytes each
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "nothing"},
		{"blank", " \n\t", "nothing"},
		{"trimmed", `  {"a":1}  `, `{"a":1}`},
		{"exactly the limit", long[:AbbrevRunes], long[:AbbrevRunes]},
		{"over the limit", long, long[:AbbrevRunes] + "…"},
		{"multi-byte runes cut on a boundary", euros, strings.Repeat("€", AbbrevRunes) + "…"},
		{"multi-byte runes at the limit", euros[:3*AbbrevRunes], euros[:3*AbbrevRunes]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Abbreviate([]byte(tt.in))
			if got != tt.want {
				t.Fatalf("Abbreviate(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if utf8.ValidString(tt.in) && !utf8.ValidString(got) {
				t.Fatalf("Abbreviate(%q) = %q: cut a UTF-8 character", tt.in, got)
			}
		})
	}
}

func TestObjectHelpers(t *testing.T) {
	for _, in := range []string{`{}`, ` {"a":[1,2]} `} {
		if err := CheckObject([]byte(in)); err != nil {
			t.Errorf("CheckObject(%q) = %v, want nil", in, err)
		}
	}
	for _, in := range []string{``, `null`, `[]`, `1`, `"x"`, `{"a":`} {
		err := CheckObject([]byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "expected a JSON object, found ") {
			t.Errorf("CheckObject(%q) = %v, want an 'expected a JSON object' error", in, err)
		}
	}
	if got := string(Compact([]byte("{ \"a\" : 1 }"))); got != `{"a":1}` {
		t.Errorf("Compact = %s", got)
	}
	if got := string(Compact([]byte("{bad"))); got != "{bad" {
		t.Errorf("Compact(invalid) = %s, want unchanged", got)
	}
	if !IsNull([]byte(" null ")) || IsNull([]byte("nil")) {
		t.Error("IsNull wrong")
	}
}
