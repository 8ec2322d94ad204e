// Package schedule parses and validates scheduled prediction configs
// (config/scheduled_prediction_configs.json) strictly, and computes due
// slots on a clock grid.
//
// Canonical schedule keys (the reference ignored the packs' every_seconds
// and ran everything every 60 s; reference-system.md 8.1 and 14.1 #5, #6):
//
//	every_seconds          how often the row is due, seconds, >= 1
//	                       (alias: prediction_interval_seconds)
//	resolve_after_seconds  horizon after which a prediction is resolvable,
//	                       seconds, >= 1 (alias: resolve_horizon_seconds);
//	                       when absent, the scope template's horizon_seconds
//	                       (or horizon) is used; a horizon of 0 is an error,
//	                       so a prediction never resolves when it is made.
//
// Unknown keys, in a row or in its schedule, are errors.
package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/fileerr"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/suggest"
	"github.com/crunch-coordinator/coordinator/sdk"
)

var rowKeys = map[string]bool{"id": true, "scope_key": true, "scope_template": true, "schedule": true, "active": true, "order": true, "meta": true}

var scheduleAliases = map[string]string{
	"every_seconds":               "every_seconds",
	"prediction_interval_seconds": "every_seconds",
	"resolve_after_seconds":       "resolve_after_seconds",
	"resolve_horizon_seconds":     "resolve_after_seconds",
}

// LoadFile reads and parses a JSON array of schedule rows. Errors name the
// file, the row index and the field.
func LoadFile(path string) ([]sdk.ScheduleConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduled prediction configs: %w", err)
	}
	rows, err := Parse(b)
	if err != nil {
		return nil, fileerr.In(path, err)
	}
	return rows, nil
}

// Parse parses a JSON array of schedule rows strictly and returns them
// sorted by order, then id. It fails on an empty list, unknown keys (with a
// "did you mean" when one is close), wrong types, a missing scope_key,
// duplicate ids, a non-positive interval or horizon. Every problem of every
// row is reported (errors.Join), each prefixed "row <i>: ".
func Parse(b []byte) ([]sdk.ScheduleConfig, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("expected a JSON array of schedule rows: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("expected at least one schedule row, found an empty list")
	}
	out := make([]sdk.ScheduleConfig, 0, len(raw))
	ids := map[string]int{}
	var errs []error
	for i, r := range raw {
		row, err := ParseRow(r)
		if err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("row %d: %w", i, e))
			}
			continue
		}
		if j, dup := ids[row.ID]; dup {
			errs = append(errs, fmt.Errorf("row %d: id %q is already used by row %d (ids default to scope_key; set distinct ids)", i, row.ID, j))
			continue
		}
		ids[row.ID] = i
		out = append(out, row)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// unjoin returns the errors joined in err (itself when not joined).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// unknownKey describes a key that is not in allowed, with the nearest
// allowed key when it looks like a typo.
func unknownKey(k string, allowed []string) error {
	msg := fmt.Sprintf("unknown key %q", k)
	if s := suggest.Nearest(k, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s; allowed: %s", msg, strings.Join(allowed, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseRow parses one schedule row object strictly (see the package doc).
// Every problem of the row is reported (errors.Join).
func ParseRow(b []byte) (sdk.ScheduleConfig, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("expected a JSON object")
	}
	var errs []error
	allowed := sortedKeys(rowKeys)
	for _, k := range sortedKeys(fields) {
		if !rowKeys[k] {
			errs = append(errs, unknownKey(k, allowed))
		}
	}
	row := sdk.ScheduleConfig{Active: true, ScopeTemplate: json.RawMessage(`{}`), Meta: json.RawMessage(`{}`)}
	if err := decodeField(fields, "scope_key", &row.ScopeKey); err != nil {
		errs = append(errs, err)
	} else if row.ScopeKey == "" {
		errs = append(errs, fmt.Errorf("scope_key: required, non-empty string"))
	}
	row.ID = row.ScopeKey
	if _, ok := fields["id"]; ok {
		if err := decodeField(fields, "id", &row.ID); err != nil {
			errs = append(errs, err)
		} else if row.ID == "" {
			errs = append(errs, fmt.Errorf("id: expected a non-empty string"))
		}
	}
	templateOK := true
	for _, k := range []string{"scope_template", "meta"} {
		if v, ok := fields[k]; ok && !jsonx.IsNull(v) {
			if !sdk.IsJSONObject(v) {
				errs = append(errs, fmt.Errorf("%s: expected a JSON object, found %s", k, jsonx.Abbreviate(v)))
				templateOK = templateOK && k != "scope_template"
				continue
			}
			if k == "scope_template" {
				row.ScopeTemplate = jsonx.Compact(v)
			} else {
				row.Meta = jsonx.Compact(v)
			}
		}
	}
	if err := decodeField(fields, "active", &row.Active); err != nil {
		errs = append(errs, err)
	}
	if err := decodeField(fields, "order", &row.Order); err != nil {
		errs = append(errs, err)
	}
	sched, ok := fields["schedule"]
	switch {
	case !ok || jsonx.IsNull(sched):
		errs = append(errs, fmt.Errorf("schedule: required object with every_seconds"))
	case !templateOK:
		// The horizon may come from the unreadable template: check the rest only.
		if _, err := parseSchedule(sched, nil); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("schedule: %w", e))
			}
		}
	default:
		s, err := parseSchedule(sched, row.ScopeTemplate)
		for _, e := range unjoinNil(err) {
			errs = append(errs, fmt.Errorf("schedule: %w", e))
		}
		row.Schedule = s
	}
	return row, errors.Join(errs...)
}

func unjoinNil(err error) []error {
	if err == nil {
		return nil
	}
	return unjoin(err)
}

// parseSchedule parses a row's schedule object; the horizon defaults to
// the scope template's (a nil template: the horizon is not checked).
func parseSchedule(b json.RawMessage, scopeTemplate json.RawMessage) (sdk.Schedule, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return sdk.Schedule{}, fmt.Errorf("expected a JSON object, found %s", jsonx.Abbreviate(b))
	}
	var errs []error
	vals := map[string]int{}
	allowed := sortedKeys(scheduleAliases)
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		canon, ok := scheduleAliases[k]
		if !ok {
			errs = append(errs, unknownKey(k, allowed))
			continue
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			errs = append(errs, fmt.Errorf("%s: expected an integer number of seconds, found %s", k, jsonx.Abbreviate(v)))
			vals[canon] = 1 // reported; do not also call it missing
			continue
		}
		if prev, dup := vals[canon]; dup && prev != n {
			errs = append(errs, fmt.Errorf("%s: conflicts with its alias (%d vs %d)", k, n, prev))
			continue
		}
		vals[canon] = n
	}
	every, ok := vals["every_seconds"]
	if !ok {
		errs = append(errs, fmt.Errorf("every_seconds: required"))
	} else if every < 1 {
		errs = append(errs, fmt.Errorf("every_seconds: expected an integer >= 1, found %d", every))
	}
	horizon, ok := vals["resolve_after_seconds"]
	if !ok && scopeTemplate == nil {
		horizon = 1 // no template to take it from (nil): not checked here
	} else if !ok {
		h, found, err := scopeHorizon(scopeTemplate)
		switch {
		case err != nil:
			errs = append(errs, err)
			horizon = 1
		case !found:
			errs = append(errs, fmt.Errorf("resolve_after_seconds: required when the scope template has no horizon_seconds or horizon"))
			horizon = 1
		default:
			horizon = h
		}
	}
	if horizon < 1 {
		errs = append(errs, fmt.Errorf("resolve_after_seconds: expected a horizon >= 1 second, found %d (a prediction must not resolve at the instant it is made)", horizon))
	}
	if len(errs) > 0 {
		return sdk.Schedule{}, errors.Join(errs...)
	}
	return sdk.Schedule{EverySeconds: every, ResolveAfterSeconds: horizon}, nil
}

func scopeHorizon(tpl json.RawMessage) (int, bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(tpl, &m); err != nil {
		return 0, false, nil
	}
	for _, k := range []string{"horizon_seconds", "horizon"} {
		if v, ok := m[k]; ok && !jsonx.IsNull(v) {
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				return 0, false, fmt.Errorf("scope_template.%s: expected an integer number of seconds, found %s", k, jsonx.Abbreviate(v))
			}
			return n, true, nil
		}
	}
	return 0, false, nil
}

func decodeField(fields map[string]json.RawMessage, key string, dst any) error {
	v, ok := fields[key]
	if !ok || jsonx.IsNull(v) {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%s: expected %T, found %s", key, dst, jsonx.Abbreviate(v))
	}
	return nil
}

// Every returns the row's interval.
func Every(c sdk.ScheduleConfig) time.Duration {
	return time.Duration(c.Schedule.EverySeconds) * time.Second
}

// Horizon returns the row's resolve-after horizon.
func Horizon(c sdk.ScheduleConfig) time.Duration {
	return time.Duration(c.Schedule.ResolveAfterSeconds) * time.Second
}

// SlotAt returns the grid slot containing t: t truncated to a multiple of
// the interval since the Unix epoch (UTC). Slots are the same across
// restarts, so a prediction id derived from (schedule, model, slot) is
// stable.
func SlotAt(c sdk.ScheduleConfig, t time.Time) time.Time {
	every := Every(c)
	return t.UTC().Truncate(every)
}

// NextSlot returns the first grid slot strictly after last.
func NextSlot(c sdk.ScheduleConfig, last time.Time) time.Time {
	return SlotAt(c, last).Add(Every(c))
}
