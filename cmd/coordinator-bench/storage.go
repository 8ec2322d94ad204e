package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// Storage targets (issue 16 item 4).
const (
	storageTargetPerPrediction = 1000      // bytes per prediction, whole database
	storageTargetFull          = 100e6     // bytes for the full 21-day replay
	storageFullDays            = 21.0      // days of the shared CSV
	storageName                = "Storage" // result name prefix
)

// storageDays is the replayed window of the storage measurement: long
// enough for the per-prediction figure to be the steady state (one keyframe
// per 32 inputs, index pages filled), short enough for the harness (about
// 30 s per backend on the loaded 2-core machine).
func (h *harness) storageDays() float64 {
	if h.cfg.quick {
		return 0.25
	}
	return 1
}

// storage replays the first storageDays of the shared CSV with the
// baseline pack and its example models on a fresh store of each backend,
// then measures the database: SQLite's file after a WAL checkpoint (the
// size a user sees on disk), PostgreSQL's tables with their indexes and
// TOAST (pg_total_relation_size; the server's own catalog is left out).
// The 21-day figure is projected linearly from the window (the database
// grows by the same rows every simulated day). Deterministic: one run.
func (h *harness) storage(ctx context.Context) {
	progress("storage: generating and building the baseline workspace")
	rw, err := prepareReplay(ctx, h.root, filepath.Join(h.tmp, "storage"), h.cfg.csv)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secStorage, Name: storageName, Err: err})
		return
	}
	days := h.storageDays()
	from := h.rp.First()
	until := from.Add(time.Duration(days*24*float64(time.Hour)) - time.Minute)
	name := fmt.Sprintf("%s after a %s-day replay (baseline pack, %d models, fresh store)", storageName, num(days), len(rw.ws.Models))
	for _, b := range h.backends() {
		progress("storage: %s-day replay, %s", num(days), b)
		h.repeat(secStorage, name, b, func(run int) ([]Metric, error) {
			if run > 0 {
				return nil, nil // deterministic: one run
			}
			size, tables, preds, err := h.storageRun(ctx, rw, b, from, until)
			if err != nil {
				return nil, err
			}
			if b == dburl.BackendSQLite {
				h.rep.StorageTables = tables
			} else {
				h.rep.StorageTablesPG = tables
			}
			perDay := float64(size) / days
			return []Metric{one("predictions", "rows", float64(preds)), one("database", "MB", float64(size)/1e6),
				one("per prediction", "bytes", float64(size)/float64(preds)),
				one("projected 21 days", "MB", perDay*storageFullDays/1e6)}, nil
		})
	}
}

// storageRun replays [from, until] on a fresh store of backend and returns
// the database size in bytes, the largest tables and indexes (SQLite:
// dbstat; PostgreSQL: pg_total_relation_size), and the predictions stored.
func (h *harness) storageRun(ctx context.Context, rw *replayWorkspace, backend string, from, until time.Time) (int64, string, int64, error) {
	var u string
	switch backend {
	case dburl.BackendSQLite:
		u = "sqlite://" + filepath.Join(h.tmp, "storage.db")
	default:
		var err error
		if u, err = h.pg.create(ctx); err != nil {
			return 0, "", 0, err
		}
	}
	st, err := dburl.Open(ctx, u)
	if err != nil {
		return 0, "", 0, fmt.Errorf("open %s: %w", dburl.Redact(u), err)
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return 0, "", 0, fmt.Errorf("migrate %s: %w", dburl.Redact(u), err)
	}
	o, err := replayRun(ctx, rw, h.rp, st, from, until)
	if err != nil {
		_ = st.Close()
		return 0, "", 0, err
	}
	preds, err := st.CountPredictions(ctx, "")
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", 0, fmt.Errorf("count predictions: %w", err)
	}
	if preds != int64(o.Progress.Predictions) {
		return 0, "", 0, fmt.Errorf("expected the %d predictions the replay reported in the database, found %d", o.Progress.Predictions, preds)
	}
	if backend == dburl.BackendSQLite {
		size, tables, err := sqliteSize(ctx, filepath.Join(h.tmp, "storage.db"))
		return size, tables, preds, err
	}
	size, tables, err := postgresSize(ctx, u)
	return size, tables, preds, err
}

// sqliteSize checkpoints the WAL into the database file and returns the
// file's size and its largest tables and indexes (dbstat, page bytes).
func sqliteSize(ctx context.Context, path string) (int64, string, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0, "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, "", fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var size int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 12`)
	if err != nil { // dbstat is a compile-time option of SQLite
		return size, "dbstat not available: " + err.Error(), nil
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return size, "", err
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, mb(n)))
	}
	return size, strings.Join(parts, ", "), rows.Err()
}

// postgresSize returns the bytes of every table of the database's public
// schema with its indexes and TOAST, and its largest relations (tables
// with their TOAST, indexes; pg_table_size / pg_relation_size).
func postgresSize(ctx context.Context, u string) (int64, string, error) {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return 0, "", fmt.Errorf("connect to %s: %w", dburl.Redact(u), err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, `VACUUM ANALYZE`); err != nil { // visibility maps and FSM as a settled database has them
		return 0, "", fmt.Errorf("vacuum %s: %w", dburl.Redact(u), err)
	}
	var size int64
	err = c.QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'`).Scan(&size)
	if err != nil {
		return 0, "", fmt.Errorf("table sizes of %s: %w", dburl.Redact(u), err)
	}
	rows, err := c.Query(ctx, `SELECT c.relname, CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END AS b
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i') AND n.nspname = 'public' ORDER BY b DESC LIMIT 12`)
	if err != nil {
		return size, "", fmt.Errorf("relation sizes of %s: %w", dburl.Redact(u), err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return size, "", err
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, mb(n)))
	}
	return size, strings.Join(parts, ", "), rows.Err()
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

// storageTargets checks the storage rows of the report.
func (r *Report) storageTargets() []Target {
	var out []Target
	var backends []string
	for _, x := range r.Results {
		if x.Section == secStorage && x.Err == nil {
			backends = append(backends, x.Backend)
		}
	}
	sort.Strings(backends)
	for _, b := range backends {
		for _, x := range r.Results {
			if x.Section != secStorage || x.Backend != b || x.Err != nil {
				continue
			}
			out = append(out,
				atMost(fmt.Sprintf("Storage per prediction, baseline pack (%s)", b), x.median("per prediction"), storageTargetPerPrediction, "bytes", "whole database / predictions"),
				atMost(fmt.Sprintf("Storage of a 21-day replay (%s)", b), x.median("projected 21 days"), storageTargetFull/1e6, "MB", "PROJECTED linearly from the replayed window"))
		}
	}
	return out
}
