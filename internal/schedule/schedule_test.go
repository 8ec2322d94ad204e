package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	rows, err := Parse([]byte(`[
	 {"scope_key":"out","scope_template":{"asset":"BTC","horizon_seconds":900},"schedule":{"every_seconds":900},"order":1},
	 {"scope_key":"in","scope_template":{"asset":"BTC","horizon_seconds":300},"schedule":{"prediction_interval_seconds":300,"resolve_after_seconds":120},"order":0}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID != "in" || rows[1].ID != "out" {
		t.Fatalf("rows not ordered by order: %+v", rows)
	}
	if rows[0].Schedule.EverySeconds != 300 || rows[0].Schedule.ResolveAfterSeconds != 120 {
		t.Fatalf("in: %+v", rows[0].Schedule)
	}
	if rows[1].Schedule.EverySeconds != 900 || rows[1].Schedule.ResolveAfterSeconds != 900 {
		t.Fatalf("out horizon should come from scope template: %+v", rows[1].Schedule)
	}
	if !rows[0].Active {
		t.Fatal("active should default to true")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"not array", `{}`, "expected a JSON array"},
		{"empty", `[]`, "at least one schedule row"},
		{"unknown row key", `[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":60},"bogus":1}]`, `unknown key "bogus"`},
		{"unknown schedule key", `[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":60,"cron":"x"}}]`, `unknown key "cron"`},
		{"missing scope key", `[{"schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`, "scope_key: required"},
		{"missing schedule", `[{"scope_key":"a"}]`, "schedule: required"},
		{"zero interval", `[{"scope_key":"a","schedule":{"every_seconds":0,"resolve_after_seconds":60}}]`, "every_seconds: expected an integer >= 1"},
		{"string interval", `[{"scope_key":"a","schedule":{"every_seconds":"60","resolve_after_seconds":60}}]`, "every_seconds: expected an integer"},
		{"zero horizon", `[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":0}}]`, "horizon >= 1"},
		{"no horizon", `[{"scope_key":"a","schedule":{"every_seconds":60}}]`, "resolve_after_seconds: required"},
		{"alias conflict", `[{"scope_key":"a","schedule":{"every_seconds":60,"prediction_interval_seconds":30,"resolve_after_seconds":60}}]`, "conflicts"},
		{"duplicate id", `[{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":60}},{"scope_key":"a","schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`, "already used"},
		{"template not object", `[{"scope_key":"a","scope_template":[1],"schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`, "scope_template: expected a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestSlots(t *testing.T) {
	rows, err := Parse([]byte(`[{"scope_key":"a","schedule":{"every_seconds":300,"resolve_after_seconds":60}}]`))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2023, 3, 1, 10, 7, 31, 0, time.FixedZone("x", 3600))
	got := SlotAt(rows[0], at)
	want := time.Date(2023, 3, 1, 9, 5, 0, 0, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("SlotAt = %v, want %v", got, want)
	}
	if n := NextSlot(rows[0], got); !n.Equal(want.Add(5 * time.Minute)) {
		t.Fatalf("NextSlot = %v", n)
	}
}
