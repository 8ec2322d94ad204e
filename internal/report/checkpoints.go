package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Checkpoint list limits (reference-system.md 9.3).
const (
	checkpointDefaultLimit = 20
	checkpointMaxLimit     = 100
)

// checkpoints serves GET /reports/checkpoints: the newest checkpoints first.
// Parameters: kind (default Options.CheckpointKind), status (optional,
// case-insensitive match on the checkpoint's meta.status; the newest 100
// are filtered), limit 1 to 100, default 20. Row: id, kind,
// interval_seconds, status (meta.status or null), period_start,
// period_end (meta.period_start / meta.period_end, period_end falling back
// to last_run_at), created_at (emission time, else last_run_at),
// last_run_at, next_run_at, emitted_at, entries (array: the emission
// payload's "entries", the payload itself when it is an array, or [payload]
// when it is an object), meta (object), tx_hash and submitted_at (from
// meta, or null). The meta time keys period_start, period_end and
// submitted_at, and the time keys of each entry object (isTimeKey), are
// rewritten in TimeLayout (null when unparsable).
func (s *server) checkpoints(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var p params
	limit := intParam(q, &p, "limit", checkpointDefaultLimit, 1, checkpointMaxLimit)
	kind := strings.TrimSpace(q.Get("kind"))
	if kind == "" {
		kind = s.opts.CheckpointKind
	}
	status := strings.TrimSpace(q.Get("status"))
	if err := p.err(); err != nil {
		return err
	}
	fetch := limit
	if status != "" {
		fetch = checkpointMaxLimit
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	cps, err := s.opts.Store.ListCheckpoints(ctx, kind, fetch)
	if err != nil {
		return fmt.Errorf("listing %q checkpoints: %w", kind, err)
	}
	rows := make([]map[string]any, 0, min(len(cps), limit))
	for _, c := range cps {
		row := checkpointRow(c)
		if status != "" {
			st, _ := row["status"].(string)
			if !strings.EqualFold(st, status) {
				continue
			}
		}
		rows = append(rows, row)
		if len(rows) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func checkpointRow(c store.Checkpoint) map[string]any {
	meta, _ := jsonObject(c.Meta).(map[string]any)
	row := map[string]any{
		"id":               c.ID,
		"kind":             c.Kind,
		"interval_seconds": c.IntervalSeconds,
		"status":           nil,
		"period_start":     metaTime(meta, "period_start"),
		"period_end":       metaTime(meta, "period_end"),
		"created_at":       tsPtr(c.LastRunAt),
		"last_run_at":      tsPtr(c.LastRunAt),
		"next_run_at":      tsPtr(c.NextRunAt),
		"emitted_at":       nil,
		"entries":          []any{},
		"meta":             meta,
		"tx_hash":          nil,
		"submitted_at":     metaTime(meta, "submitted_at"),
	}
	for _, k := range []string{"period_start", "period_end", "submitted_at"} {
		if _, present := meta[k]; present {
			meta[k] = row[k]
		}
	}
	if st, ok := meta["status"].(string); ok && st != "" {
		row["status"] = st
	}
	if tx, ok := meta["tx_hash"].(string); ok && tx != "" {
		row["tx_hash"] = tx
	}
	if row["period_end"] == nil {
		row["period_end"] = tsPtr(c.LastRunAt)
	}
	if e := c.Emission; e != nil {
		row["emitted_at"] = ts(e.EmittedAt)
		row["created_at"] = ts(e.EmittedAt)
		row["entries"] = emissionEntries(e.Payload)
	}
	return row
}

// emissionEntries extracts the entries array of an emission payload, with
// null elements dropped.
func emissionEntries(raw json.RawMessage) []any {
	t := bytes.TrimSpace(raw)
	var v any
	if len(t) == 0 || json.Unmarshal(t, &v) != nil {
		return []any{}
	}
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case map[string]any:
		if e, ok := x["entries"].([]any); ok {
			list = e
		} else {
			list = []any{x}
		}
	}
	out := make([]any, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		if obj, ok := e.(map[string]any); ok {
			for k := range obj {
				if isTimeKey(k) {
					obj[k] = metaTime(obj, k)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// isTimeKey reports whether an emission entry's top-level key holds a time
// (the payload's slot, period_start, period_end, leaderboard_created_at,
// any *_at): those values are rewritten in TimeLayout like every other
// timestamp of the API (null when unparsable).
func isTimeKey(k string) bool {
	switch k {
	case "slot", "period_start", "period_end":
		return true
	}
	return strings.HasSuffix(k, "_at")
}

// metaTime reads meta[key] as a time (RFC 3339 string or epoch seconds) and
// formats it with TimeLayout; null when absent or unparsable.
func metaTime(meta map[string]any, key string) any {
	var t time.Time
	var err error
	switch v := meta[key].(type) {
	case string:
		t, err = parseTime(v)
	case float64:
		t, err = parseTime(fmt.Sprintf("%f", v))
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return ts(t)
}
