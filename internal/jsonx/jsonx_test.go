package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// TestCompactObjectMatchesDecodeObject: CompactObject gives Compact's
// bytes and DecodeObject's members (compacted) and errors, and
// MarshalObject of its members plus one more gives json.Marshal's bytes.
func TestCompactObjectMatchesDecodeObject(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { "a" : [ 1 , { "b" : "x,}]" } ] , "c":-1.5e3,"d":true,"e":null,"f":"q\"\\","g":{} } `,
		`{"a":1,"a":2}`, `{"a\u0062":1,"\u00e9":2,"<x>":"&","k":"\u2028"}`, `{"z":"é","y":[[],[{}]],"x":0}`,
		"{\"bad\xff\":1,\"v\":\"\xfe\"}", `{"a":"<b>"}`, `{"a":1,"b":[1,2,3],"c":{"d":[{"e":"f"}]}}`,
		``, `null`, `[]`, `1`, `"x"`, `{"a":`, `{"a":1}x`, `{"a" 1}`,
	} {
		want, wantErr := DecodeObject([]byte(in))
		c, got, err := CompactObject([]byte(in))
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("CompactObject(%q) error %v, DecodeObject %v", in, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if wc := Compact([]byte(in)); !bytes.Equal(c, wc) {
			t.Errorf("CompactObject(%q) = %s, Compact %s", in, c, wc)
		}
		if len(got) != len(want) {
			t.Errorf("CompactObject(%q) members %v, DecodeObject %v", in, got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], Compact(v)) {
				t.Errorf("CompactObject(%q)[%q] = %s, want %s", in, k, got[k], Compact(v))
			}
		}
		got["_scope"] = json.RawMessage(`{"scope_key":"a<b"}`)
		want["_scope"] = got["_scope"]
		for _, m := range []map[string]json.RawMessage{got, {"_scope": got["_scope"]}, {"b": json.RawMessage(`1`), "a": json.RawMessage(`[2]`), "_": json.RawMessage(`"x"`)}} {
			wm, werr := json.Marshal(m)
			gm, gerr := MarshalObject(m)
			if !bytes.Equal(gm, wm) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Errorf("MarshalObject(%v) = %s (%v), json.Marshal %s (%v)", m, gm, gerr, wm, werr)
			}
		}
		if wm, _ := json.Marshal(want); !bytes.Equal(wm, must(MarshalObject(got))) {
			t.Errorf("%q: MarshalObject of CompactObject's members %s, json.Marshal of DecodeObject's %s", in, must(MarshalObject(got)), wm)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		return []byte(err.Error())
	}
	return b
}
