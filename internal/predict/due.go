package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/schedule"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// dueRow is a schedule row due in this cycle.
type dueRow struct {
	cfg  sdk.ScheduleConfig
	slot time.Time
}

// dueRows loads the active schedules and returns the due ones with their
// slots, plus the earliest next slot over all valid active rows.
// prevRun is the time of this worker's previous cycle (zero: none since
// start), which tells a data gap from node downtime. assumed holds
// performed_at times not stored yet (a Block's planned cycles), which
// count as stored.
func (w *Worker) dueRows(ctx context.Context, now, prevRun time.Time, assumed map[string]time.Time) ([]dueRow, time.Time, error) {
	rows, err := w.activeSchedules(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("predict cycle: list active schedules: %w", err)
	}
	var due []dueRow
	var next time.Time
	for _, r := range rows {
		cfg, err := w.scheduleConfig(r)
		if err != nil {
			w.log.Error("schedule row skipped: invalid", "schedule_id", r.ID, "error", err)
			continue
		}
		if !cfg.Active {
			continue
		}
		slot := schedule.SlotAt(cfg, now)
		if n := schedule.NextSlot(cfg, now); next.IsZero() || n.Before(next) {
			next = n
		}
		last, err := w.latestPerformed(ctx, cfg.ID)
		if a, ok := assumed[cfg.ID]; ok && (err != nil && errors.Is(err, store.ErrNotFound) || err == nil && a.After(last)) {
			last, err = a, nil
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, next, fmt.Errorf("predict cycle: latest performed_at of schedule %q: %w", cfg.ID, err)
		case !last.Before(slot):
			continue // this slot already has its predictions
		default:
			lastSlot := schedule.SlotAt(cfg, last)
			if missed := int(slot.Sub(lastSlot)/schedule.Every(cfg)) - 1; missed > 0 {
				from, to := lastSlot.Add(schedule.Every(cfg)), slot.Add(-schedule.Every(cfg))
				if prevRun.IsZero() {
					// The first cycle of this worker: the node was not running.
					w.log.Warn("schedule slots missed while the node was down (not back-filled)", "schedule_id", cfg.ID,
						"from", from, "to", to, "slots_skipped", missed)
				} else {
					// The worker was running: no cycle came at these slots
					// (the clock jumped over a gap in the data, as a replay
					// does) or their cycles were skipped (stale feed, logged).
					w.log.Warn("schedule slots skipped: data gap (no cycle ran at these slots while the node was up; not back-filled)", "schedule_id", cfg.ID,
						"from", from, "to", to, "slots_skipped", missed, "previous_cycle", prevRun)
				}
			}
		}
		due = append(due, dueRow{cfg: cfg, slot: slot})
	}
	return due, next, nil
}

// activeSchedules returns the active schedule rows: the worker's read of
// the store when it is younger than Config.ScheduleRefresh, else a new read (a
// failed read is returned as is and the next call reads again).
func (w *Worker) activeSchedules(ctx context.Context) ([]store.ScheduleRow, error) {
	w.cacheMu.Lock()
	rows, read := w.schedules, w.schedulesRead
	w.cacheMu.Unlock()
	if rows != nil && time.Since(read) < w.cfg.ScheduleRefresh {
		return rows, nil
	}
	read = time.Now()
	rows, err := w.cfg.Store.ListSchedules(ctx, true)
	if err != nil {
		return nil, err
	}
	if rows == nil {
		rows = []store.ScheduleRow{}
	}
	w.cacheMu.Lock()
	w.schedules, w.schedulesRead = rows, read
	w.cacheMu.Unlock()
	return rows, nil
}

// parsedRow is a schedule row and its parsed config.
type parsedRow struct {
	row store.ScheduleRow
	cfg sdk.ScheduleConfig
}

// sameRow reports whether two stored schedule rows are identical.
func sameRow(a, b store.ScheduleRow) bool {
	return a.ID == b.ID && a.ScopeKey == b.ScopeKey && a.Active == b.Active && a.Order == b.Order &&
		bytes.Equal(a.ScopeTemplate, b.ScopeTemplate) && bytes.Equal(a.Schedule, b.Schedule) && bytes.Equal(a.Meta, b.Meta)
}

// scheduleConfig returns the parsed config of r, parsing it only when the
// row changed since the last call.
func (w *Worker) scheduleConfig(r store.ScheduleRow) (sdk.ScheduleConfig, error) {
	w.cacheMu.Lock()
	p, ok := w.parsed[r.ID]
	w.cacheMu.Unlock()
	if ok && sameRow(p.row, r) {
		cfg := p.cfg // callables get their own raw bytes, never the cached ones
		cfg.ScopeTemplate = bytes.Clone(cfg.ScopeTemplate)
		cfg.Meta = bytes.Clone(cfg.Meta)
		return cfg, nil
	}
	cfg, err := ScheduleConfig(r)
	if err != nil {
		return cfg, err
	}
	row := r
	row.ScopeTemplate = bytes.Clone(r.ScopeTemplate)
	row.Schedule = bytes.Clone(r.Schedule)
	row.Meta = bytes.Clone(r.Meta)
	cached := cfg
	cached.ScopeTemplate = bytes.Clone(cfg.ScopeTemplate)
	cached.Meta = bytes.Clone(cfg.Meta)
	w.cacheMu.Lock()
	w.parsed[r.ID] = parsedRow{row: row, cfg: cached}
	w.cacheMu.Unlock()
	return cfg, nil
}

// latestPerformed returns the newest performed_at of configID's
// predictions: from the worker's memory once known, else from the store
// (then remembered). It wraps store.ErrNotFound when there is none.
func (w *Worker) latestPerformed(ctx context.Context, configID string) (time.Time, error) {
	w.cacheMu.Lock()
	last, ok := w.performed[configID]
	w.cacheMu.Unlock()
	if ok {
		return last, nil
	}
	last, err := w.cfg.Store.LatestPerformedAt(ctx, configID)
	if err != nil {
		return last, err
	}
	w.notePerformed(configID, last)
	return last, nil
}

// notePerformed advances the remembered newest performed_at of configID.
func (w *Worker) notePerformed(configID string, at time.Time) {
	w.cacheMu.Lock()
	defer w.cacheMu.Unlock()
	if old, ok := w.performed[configID]; !ok || at.After(old) {
		w.performed[configID] = at
	}
}

// ScheduleConfig converts a stored schedule row into the callable view,
// validating it with the strict schedule parser. The error names the row.
func ScheduleConfig(r store.ScheduleRow) (sdk.ScheduleConfig, error) {
	obj := map[string]any{
		"id":        r.ID,
		"scope_key": r.ScopeKey,
		"active":    r.Active,
		"order":     r.Order,
	}
	if len(r.ScopeTemplate) > 0 {
		obj["scope_template"] = r.ScopeTemplate
	}
	if len(r.Schedule) > 0 {
		obj["schedule"] = r.Schedule
	}
	if len(r.Meta) > 0 {
		obj["meta"] = r.Meta
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("schedule row %q: encode: %w", r.ID, err)
	}
	cfg, err := schedule.ParseRow(b)
	if err != nil {
		return sdk.ScheduleConfig{}, fmt.Errorf("schedule row %q: %w", r.ID, err)
	}
	return cfg, nil
}
