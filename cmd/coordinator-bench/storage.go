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

// storageDays is the shorter of the two replayed windows of the storage
// measurement; the longer one is twice as long. Long enough for the daily
// growth to be the steady state (one keyframe per 32 inputs, index pages
// filled), short enough for the harness (the two windows replay three
// days per backend).
func (h *harness) storageDays() float64 {
	if h.cfg.quick {
		return 0.25
	}
	return 1
}

// storagePostgresRuns is the number of runs of the PostgreSQL storage
// measurement (at most -runs): its sizes vary between runs of the same
// code by up to about ±5% (40 bytes per prediction), SQLite's do not.
const storagePostgresRuns = 3

// storageWindow is the measurement of one replayed window on a fresh store.
type storageWindow struct {
	days  float64
	size  int64            // bytes of the database
	preds int64            // predictions stored
	rels  map[string]int64 // bytes per table (with TOAST) and index
}

// storage replays the first storageDays, then twice storageDays, of the
// shared CSV with the baseline pack and its example models, each on a
// fresh store of each backend, and measures each database: SQLite's file
// after a WAL checkpoint (the size a user sees on disk), PostgreSQL's
// tables with their indexes and TOAST (pg_total_relation_size; the
// server's own catalog is left out). The difference of the two windows is
// the growth per simulated day (the database grows by the same rows every
// day); the rest of the shorter window is the fixed part (schema, every
// relation's first pages, FSM and VM forks), counted once: the 21-day
// figure is fixed + 21 × daily growth. SQLite's sizes are deterministic:
// one run; PostgreSQL's vary a little: storagePostgresRuns runs.
func (h *harness) storage(ctx context.Context) {
	progress("storage: generating and building the baseline workspace")
	rw, err := prepareReplay(ctx, h.root, filepath.Join(h.tmp, "storage"), h.cfg.csv)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secStorage, Name: storageName, Err: err})
		return
	}
	d1 := h.storageDays()
	from := h.rp.First()
	name := fmt.Sprintf("%s after %s- and %s-day replays (baseline pack, %d models, fresh stores)", storageName, num(d1), num(2*d1), len(rw.ws.Models))
	for _, b := range h.backends() {
		h.repeat(secStorage, name, b, func(run int) ([]Metric, error) {
			if run > 0 && (b == dburl.BackendSQLite || run >= storagePostgresRuns) {
				return nil, nil // SQLite: deterministic, one run
			}
			var w [2]storageWindow
			for i, days := range []float64{d1, 2 * d1} {
				progress("storage: %s-day replay, %s", num(days), b)
				until := from.Add(time.Duration(days*24*float64(time.Hour)) - time.Minute)
				var err error
				if w[i], err = h.storageRun(ctx, rw, b, from, until, i); err != nil {
					return nil, err
				}
				w[i].days = days
			}
			p := projectStorage(w[0], w[1])
			tables := storageBreakdown(w[0], w[1])
			if b == dburl.BackendSQLite {
				h.rep.StorageTables = tables
			} else {
				h.rep.StorageTablesPG = tables
			}
			return []Metric{
				one(fmt.Sprintf("predictions (%s days)", num(w[1].days)), "rows", float64(w[1].preds)),
				one("predictions per day", "rows", p.predsPerDay),
				one(fmt.Sprintf("database (%s day)", num(w[0].days)), "MB", float64(w[0].size)/1e6),
				one(fmt.Sprintf("database (%s days)", num(w[1].days)), "MB", float64(w[1].size)/1e6),
				one("fixed", "MB", p.fixed/1e6),
				one("growth per day", "MB", p.growthPerDay/1e6),
				one("marginal per prediction", "bytes", p.growthPerDay/p.predsPerDay),
				one("per prediction", "bytes", p.perPrediction),
				one("projected 21 days", "MB", p.full/1e6)}, nil
		})
	}
}

// storageProjection is the 21-day projection of two windows.
type storageProjection struct {
	predsPerDay   float64 // predictions added per simulated day
	growthPerDay  float64 // bytes added per simulated day
	fixed         float64 // bytes independent of the days replayed
	full          float64 // bytes projected for storageFullDays: fixed + days × growth
	perPrediction float64 // full / predictions projected for storageFullDays
}

// projectStorage projects storageFullDays from a short window a and a
// longer one b of the same start: the growth per day is their difference
// over the days between them, the fixed part what a holds beyond its days
// of growth.
func projectStorage(a, b storageWindow) storageProjection {
	dd := b.days - a.days
	var p storageProjection
	p.growthPerDay = float64(b.size-a.size) / dd
	p.predsPerDay = float64(b.preds-a.preds) / dd
	p.fixed = float64(a.size) - a.days*p.growthPerDay
	p.full = p.fixed + storageFullDays*p.growthPerDay
	fixedPreds := float64(a.preds) - a.days*p.predsPerDay // 0 when every day predicts the same
	p.perPrediction = p.full / (fixedPreds + storageFullDays*p.predsPerDay)
	return p
}

// storageBreakdown lists the relations of the longer window b by their
// growth per day since the shorter window a, largest first: size in b,
// growth per day and per prediction added.
func storageBreakdown(a, b storageWindow) string {
	dd := b.days - a.days
	predsPerDay := float64(b.preds-a.preds) / dd
	type rel struct {
		name   string
		size   int64
		growth float64
	}
	var rels []rel
	for n, sz := range b.rels {
		rels = append(rels, rel{n, sz, float64(sz-a.rels[n]) / dd})
	}
	sort.Slice(rels, func(i, j int) bool {
		if rels[i].growth != rels[j].growth {
			return rels[i].growth > rels[j].growth
		}
		return rels[i].name < rels[j].name
	})
	var parts []string
	var restSize int64
	var restGrowth float64
	for i, r := range rels {
		if i >= 14 {
			restSize += r.size
			restGrowth += r.growth
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (+%s/day, %s B/pred)", r.name, mb(r.size), mb(int64(r.growth)), num(r.growth/predsPerDay)))
	}
	if len(rels) > 14 {
		parts = append(parts, fmt.Sprintf("%d others %s (+%s/day, %s B/pred)", len(rels)-14, mb(restSize), mb(int64(restGrowth)), num(restGrowth/predsPerDay)))
	}
	return strings.Join(parts, ", ")
}

// storageRun replays [from, until] on a fresh store of backend (SQLite:
// file storage-<window>.db) and measures the database.
func (h *harness) storageRun(ctx context.Context, rw *replayWorkspace, backend string, from, until time.Time, window int) (storageWindow, error) {
	var u string
	path := filepath.Join(h.tmp, fmt.Sprintf("storage-%d.db", window))
	switch backend {
	case dburl.BackendSQLite:
		u = "sqlite://" + path
	default:
		var err error
		if u, err = h.pg.create(ctx); err != nil {
			return storageWindow{}, err
		}
	}
	st, err := dburl.Open(ctx, u)
	if err != nil {
		return storageWindow{}, fmt.Errorf("open %s: %w", dburl.Redact(u), err)
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return storageWindow{}, fmt.Errorf("migrate %s: %w", dburl.Redact(u), err)
	}
	o, err := replayRun(ctx, rw, h.rp, st, from, until)
	if err != nil {
		_ = st.Close()
		return storageWindow{}, err
	}
	preds, err := st.CountPredictions(ctx, "")
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return storageWindow{}, fmt.Errorf("count predictions: %w", err)
	}
	if preds != int64(o.Progress.Predictions) {
		return storageWindow{}, fmt.Errorf("expected the %d predictions the replay reported in the database, found %d", o.Progress.Predictions, preds)
	}
	w := storageWindow{preds: preds}
	if backend == dburl.BackendSQLite {
		w.size, w.rels, err = sqliteSize(ctx, path)
	} else {
		w.size, w.rels, err = postgresSize(ctx, u)
	}
	return w, err
}

// sqliteSize checkpoints the WAL into the database file and returns the
// file's size and the bytes of each table and index (dbstat, page bytes;
// nil when SQLite was built without dbstat).
func sqliteSize(ctx context.Context, path string) (int64, map[string]int64, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var size int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT name, SUM(pgsize) FROM dbstat GROUP BY name`)
	if err != nil { // dbstat is a compile-time option of SQLite
		return size, nil, nil
	}
	defer rows.Close()
	return scanSizes(size, rows)
}

// scanSizes reads (name, bytes) rows into a map.
func scanSizes(size int64, rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) (int64, map[string]int64, error) {
	rels := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return size, nil, err
		}
		rels[name] = n
	}
	return size, rels, rows.Err()
}

// postgresSize returns the bytes of every table of the database's public
// schema with its indexes and TOAST, and the bytes of each relation
// (tables with their TOAST, indexes; pg_table_size / pg_relation_size).
func postgresSize(ctx context.Context, u string) (int64, map[string]int64, error) {
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return 0, nil, fmt.Errorf("connect to %s: %w", dburl.Redact(u), err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, `VACUUM ANALYZE`); err != nil { // visibility maps and FSM as a settled database has them
		return 0, nil, fmt.Errorf("vacuum %s: %w", dburl.Redact(u), err)
	}
	var size int64
	err = c.QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'`).Scan(&size)
	if err != nil {
		return 0, nil, fmt.Errorf("table sizes of %s: %w", dburl.Redact(u), err)
	}
	rows, err := c.Query(ctx, `SELECT c.relname, CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END AS b
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i') AND n.nspname = 'public'`)
	if err != nil {
		return size, nil, fmt.Errorf("relation sizes of %s: %w", dburl.Redact(u), err)
	}
	defer rows.Close()
	return scanSizes(size, rows)
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
				atMost(fmt.Sprintf("Storage per prediction, baseline pack (%s)", b), x.median("per prediction"), storageTargetPerPrediction, "bytes", "PROJECTED: fixed + 21 × daily growth, two windows; / predictions of 21 days"),
				atMost(fmt.Sprintf("Storage of a 21-day replay (%s)", b), x.median("projected 21 days"), storageTargetFull/1e6, "MB", "PROJECTED: fixed + 21 × daily growth, two windows"))
		}
	}
	return out
}
