package store

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func TestUnstorable(t *testing.T) {
	tests := []struct {
		in   string
		want string // the token found, "" for none
	}{
		{`{"a":1e400}`, `1e400`},
		{`[-1E+309]`, `-1E+309`},
		{`{"v":1e999}`, `1e999`},
		{`{"a":"1e400"}`, ``},
		{`{"a\"":1e300,"b":123456789012345678901234567890}`, ``},
		{`1.5e-400`, ``},
		{`{"v":"a\u0000b"}`, `\u0000`},
		{`{"k\u0000":1}`, `\u0000`},
		{`{"v":"a\\u0000b"}`, ``}, // an escaped backslash, then the text u0000
		{`{"v":"\u00001"}`, `\u0000`},
		{`{"v":"\u0001"}`, ``},
	}
	for _, tt := range tests {
		tok, _ := unstorable([]byte(tt.in))
		if string(tok) != tt.want {
			t.Errorf("unstorable(%s) = %q, want %q", tt.in, tok, tt.want)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	def := json.RawMessage(`{}`)
	for _, in := range []string{``, ` `, "\n\t"} {
		got, err := CheckJSON("f", json.RawMessage(in), def)
		if err != nil || string(got) != `{}` {
			t.Errorf("CheckJSON(%q) = %s, %v; want the default", in, got, err)
		}
	}
	for _, in := range []string{`{"big":123456789012345678901234567890}`, `[1.5e300,-0.0]`, `"é"`} {
		got, err := CheckJSON("f", json.RawMessage(in), def)
		if err != nil || string(got) != in {
			t.Errorf("CheckJSON(%s) = %s, %v; want it unchanged", in, got, err)
		}
	}
	for _, in := range []string{`{"x":NaN}`, `[Infinity]`, `{"x":`, `{"v":1e999}`, `{"v":"\u0000"}`} {
		if _, err := CheckJSON("Scope", json.RawMessage(in), def); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("CheckJSON(%s) = %v; want ErrInvalidValue", in, err)
		}
	}
}

func TestNormalizePredictionDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	zone := time.FixedZone("X", 3600)
	p, err := Prediction{ID: "p", ModelID: "m", Status: StatusSuccess, Score: &Score{Success: true}}.Normalize(now)
	if err != nil {
		t.Fatal(err)
	}
	if !p.PerformedAt.Equal(now) || !p.ResolvableAt.Equal(now) || !p.Score.ScoredAt.Equal(now) {
		t.Errorf("zero times: got performed %v resolvable %v scored %v, want %v", p.PerformedAt, p.ResolvableAt, p.Score.ScoredAt, now)
	}
	for name, raw := range map[string]json.RawMessage{"Scope": p.Scope, "InferenceInput": p.InferenceInput, "InferenceOutput": p.InferenceOutput, "Meta": p.Meta} {
		if string(raw) != `{}` {
			t.Errorf("%s: got %s, want {}", name, raw)
		}
	}
	p, err = Prediction{ID: "p", ModelID: "m", Status: StatusSuccess, PerformedAt: now.In(zone)}.Normalize(now)
	if err != nil || p.PerformedAt.Location() != time.UTC || !p.ResolvableAt.Equal(now) {
		t.Errorf("performed_at in another zone: got %v / %v (%v)", p.PerformedAt, p.ResolvableAt, err)
	}
	if _, err := (Prediction{ID: "p", ModelID: "m", Status: StatusSuccess, ExecTimeMs: math.Inf(1)}).Normalize(now); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("+Inf exec time: got %v, want ErrInvalidValue", err)
	}
}
