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
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/fileerr"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
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
// sorted by order, then id. It fails on an empty list, unknown keys, wrong
// types, a missing scope_key, duplicate ids, a non-positive interval or
// horizon.
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
	for i, r := range raw {
		row, err := ParseRow(r)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if j, dup := ids[row.ID]; dup {
			return nil, fmt.Errorf("row %d: id %q is already used by row %d (ids default to scope_key; set distinct ids)", i, row.ID, j)
		}
		ids[row.ID] = i
		out = append(out, row)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ParseRow parses one schedule row object strictly (see the package doc).
func ParseRow(b []byte) (sdk.ScheduleConfig, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("expected a JSON object")
	}
	for k := range fields {
		if !rowKeys[k] {
			return sdk.ScheduleConfig{}, fmt.Errorf("unknown key %q (allowed: active, id, meta, order, schedule, scope_key, scope_template)", k)
		}
	}
	row := sdk.ScheduleConfig{Active: true, ScopeTemplate: json.RawMessage(`{}`), Meta: json.RawMessage(`{}`)}
	if err := decodeField(fields, "scope_key", &row.ScopeKey); err != nil {
		return row, err
	}
	if row.ScopeKey == "" {
		return row, fmt.Errorf("scope_key: required, non-empty string")
	}
	row.ID = row.ScopeKey
	if _, ok := fields["id"]; ok {
		if err := decodeField(fields, "id", &row.ID); err != nil {
			return row, err
		}
		if row.ID == "" {
			return row, fmt.Errorf("id: expected a non-empty string")
		}
	}
	for _, k := range []string{"scope_template", "meta"} {
		if v, ok := fields[k]; ok && !jsonx.IsNull(v) {
			if !sdk.IsJSONObject(v) {
				return row, fmt.Errorf("%s: expected a JSON object, found %s", k, jsonx.Abbreviate(v))
			}
			if k == "scope_template" {
				row.ScopeTemplate = jsonx.Compact(v)
			} else {
				row.Meta = jsonx.Compact(v)
			}
		}
	}
	if err := decodeField(fields, "active", &row.Active); err != nil {
		return row, err
	}
	if err := decodeField(fields, "order", &row.Order); err != nil {
		return row, err
	}
	sched, ok := fields["schedule"]
	if !ok || jsonx.IsNull(sched) {
		return row, fmt.Errorf("schedule: required object with every_seconds")
	}
	s, err := parseSchedule(sched, row.ScopeTemplate)
	if err != nil {
		return row, fmt.Errorf("schedule: %w", err)
	}
	row.Schedule = s
	return row, nil
}

func parseSchedule(b json.RawMessage, scopeTemplate json.RawMessage) (sdk.Schedule, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return sdk.Schedule{}, fmt.Errorf("expected a JSON object, found %s", jsonx.Abbreviate(b))
	}
	vals := map[string]int{}
	for k, v := range fields {
		canon, ok := scheduleAliases[k]
		if !ok {
			return sdk.Schedule{}, fmt.Errorf("unknown key %q (allowed: every_seconds, resolve_after_seconds; aliases prediction_interval_seconds, resolve_horizon_seconds)", k)
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return sdk.Schedule{}, fmt.Errorf("%s: expected an integer number of seconds, found %s", k, jsonx.Abbreviate(v))
		}
		if prev, dup := vals[canon]; dup && prev != n {
			return sdk.Schedule{}, fmt.Errorf("%s: conflicts with its alias (%d vs %d)", k, n, prev)
		}
		vals[canon] = n
	}
	every, ok := vals["every_seconds"]
	if !ok {
		return sdk.Schedule{}, fmt.Errorf("every_seconds: required")
	}
	if every < 1 {
		return sdk.Schedule{}, fmt.Errorf("every_seconds: expected an integer >= 1, found %d", every)
	}
	horizon, ok := vals["resolve_after_seconds"]
	if !ok {
		h, found, err := scopeHorizon(scopeTemplate)
		if err != nil {
			return sdk.Schedule{}, err
		}
		if !found {
			return sdk.Schedule{}, fmt.Errorf("resolve_after_seconds: required when the scope template has no horizon_seconds or horizon")
		}
		horizon = h
	}
	if horizon < 1 {
		return sdk.Schedule{}, fmt.Errorf("resolve_after_seconds: expected a horizon >= 1 second, found %d (a prediction must not resolve at the instant it is made)", horizon)
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
