package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

type feedKey struct{ provider, asset, kind, granularity string }

// UpsertMarketRecords upserts records by (provider, asset, kind,
// granularity, ts_event) with id store.MarketRecordID: an existing row gets
// the new values, meta and ts_ingested. In the same transaction each feed's
// watermark (market_ingestion_state) advances to the newest ts_event seen
// (never backwards) with updated_at = the newest ts_ingested of the batch;
// an existing watermark's meta is kept. A zero TsIngested becomes now. It
// returns the number of records written. Empty key fields, a zero TsEvent
// and invalid JSON are refused with store.ErrInvalidValue.
func (s *Store) UpsertMarketRecords(ctx context.Context, records []store.MarketRecord) (int, error) {
	rows, err := store.NormalizeMarketRecords(records)
	if err != nil {
		return 0, fmt.Errorf("sqlite upsert market records (%s): %w", s.path, err)
	}
	type mark struct{ last, updated int64 }
	marks := map[feedKey]*mark{}
	var order []feedKey
	for _, r := range rows {
		ev, ing := micros(r.TsEvent), micros(r.TsIngested)
		k := feedKey{r.Provider, r.Asset, r.Kind, r.Granularity}
		m, ok := marks[k]
		if !ok {
			m = &mark{last: ev, updated: ing}
			marks[k] = m
			order = append(order, k)
		}
		m.last = max(m.last, ev)
		m.updated = max(m.updated, ing)
	}
	if len(rows) == 0 {
		return 0, s.checkSchema(ctx)
	}
	written := 0
	err = s.writeTx(ctx, "upsert market records", func(tx *sql.Tx) error {
		stmt, err := s.txStmt(ctx, tx, `INSERT INTO market_records (id, provider, asset, kind, granularity, ts_event, ts_ingested, values_jsonb, meta_jsonb)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (provider, asset, kind, granularity, ts_event) DO UPDATE SET
    ts_ingested = excluded.ts_ingested, values_jsonb = excluded.values_jsonb, meta_jsonb = excluded.meta_jsonb`)
		if err != nil {
			return s.wrap("upsert market records: prepare", err)
		}
		defer stmt.Close()
		for _, r := range rows {
			id := store.MarketRecordID(r.Provider, r.Asset, r.Kind, r.Granularity, r.TsEvent)
			if _, err := stmt.ExecContext(ctx, id, r.Provider, r.Asset, r.Kind, r.Granularity, micros(r.TsEvent), micros(r.TsIngested), string(r.Values), string(r.Meta)); err != nil {
				return s.wrap(fmt.Sprintf("upsert market record %s/%s/%s/%s at %s", r.Provider, r.Asset, r.Kind, r.Granularity, r.TsEvent.Format("2006-01-02T15:04:05.999999Z07:00")), err)
			}
		}
		wm, err := s.txStmt(ctx, tx, `INSERT INTO market_ingestion_state (id, provider, asset, kind, granularity, last_event_ts, updated_at, meta_jsonb)
VALUES (?, ?, ?, ?, ?, ?, ?, '{}')
ON CONFLICT (id) DO UPDATE SET
    last_event_ts = MAX(COALESCE(market_ingestion_state.last_event_ts, excluded.last_event_ts), excluded.last_event_ts),
    updated_at = excluded.updated_at`)
		if err != nil {
			return s.wrap("upsert market records: prepare watermark", err)
		}
		defer wm.Close()
		for _, k := range order {
			m := marks[k]
			id := k.provider + ":" + k.asset + ":" + k.kind + ":" + k.granularity
			if _, err := wm.ExecContext(ctx, id, k.provider, k.asset, k.kind, k.granularity, m.last, m.updated); err != nil {
				return s.wrap(fmt.Sprintf("upsert market records: watermark %q", id), err)
			}
		}
		written = len(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return written, nil
}

// QueryMarketRecords returns records matching q: empty strings and zero
// times are no filter, Start/End bound ts_event inclusively, ordered by
// ts_event (newest first when Descending) then provider, asset, kind,
// granularity; at most Limit (0 = 1000; negative refused), so a Descending
// query returns the newest Limit records.
func (s *Store) QueryMarketRecords(ctx context.Context, q store.MarketQuery) ([]store.MarketRecord, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite query market records (%s): %w", s.path, err)
	}
	var where, cols []string
	var args []any
	// A column the query fixes is not read back: every row holds the
	// filter's value (TEXT equality is byte equality).
	var r store.MarketRecord
	var fixed []*string
	for _, kv := range []struct {
		col, v string
		dst    *string
	}{{"provider", q.Provider, &r.Provider}, {"asset", q.Asset, &r.Asset}, {"kind", q.Kind, &r.Kind}, {"granularity", q.Granularity, &r.Granularity}} {
		if kv.v != "" {
			where = append(where, kv.col+" = ?")
			args = append(args, kv.v)
			*kv.dst = kv.v
		} else {
			cols = append(cols, kv.col)
			fixed = append(fixed, kv.dst)
		}
	}
	if !q.Start.IsZero() {
		where = append(where, "ts_event >= ?")
		args = append(args, micros(q.Start))
	}
	if !q.End.IsZero() {
		where = append(where, "ts_event <= ?")
		args = append(args, micros(q.End))
	}
	if !q.IngestedBy.IsZero() {
		where = append(where, "ts_ingested <= ?")
		args = append(args, micros(q.IngestedBy))
	}
	sqlText := `SELECT ` + strings.Join(append(cols, "ts_event", "ts_ingested", "values_jsonb", "meta_jsonb"), ", ") + ` FROM market_records`
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	dir := "ASC"
	if q.Descending {
		dir = "DESC"
	}
	sqlText += fmt.Sprintf(" ORDER BY ts_event %[1]s, provider %[1]s, asset %[1]s, kind %[1]s, granularity %[1]s LIMIT ?", dir)
	args = append(args, q.Limit)
	rows, err := s.query(ctx, sqlText, args...)
	if err != nil {
		return nil, s.wrap("query market records", err)
	}
	defer rows.Close()
	var out []store.MarketRecord
	var ev, ing int64
	var values, meta sql.NullString
	dest := make([]any, 0, 8)
	for _, p := range fixed {
		dest = append(dest, p)
	}
	dest = append(dest, &ev, &ing, &values, &meta)
	for rows.Next() {
		// r keeps the fixed columns; Scan sets every other field.
		if err := rows.Scan(dest...); err != nil {
			return nil, s.wrap("query market records: scan", err)
		}
		r.TsEvent, r.TsIngested = fromMicros(ev), fromMicros(ing)
		r.Values, r.Meta = rawJSON(values, "{}"), rawJSON(meta, "{}")
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("query market records", err)
	}
	return out, nil
}

// FeedSummaries returns one summary per feed that has records (count,
// oldest and newest ts_event, watermark if any), ordered by provider,
// asset, kind, granularity.
func (s *Store) FeedSummaries(ctx context.Context) ([]store.FeedSummary, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT f.provider, f.asset, f.kind, f.granularity, f.n, f.oldest, f.newest, w.last_event_ts, w.updated_at
FROM (SELECT provider, asset, kind, granularity, COUNT(*) AS n, MIN(ts_event) AS oldest, MAX(ts_event) AS newest
      FROM market_records GROUP BY provider, asset, kind, granularity) f
LEFT JOIN market_ingestion_state w
  ON w.provider = f.provider AND w.asset = f.asset AND w.kind = f.kind AND w.granularity = f.granularity
ORDER BY f.provider, f.asset, f.kind, f.granularity`)
	if err != nil {
		return nil, s.wrap("feed summaries", err)
	}
	defer rows.Close()
	var out []store.FeedSummary
	for rows.Next() {
		var f store.FeedSummary
		var oldest, newest int64
		var last, updated sql.NullInt64
		if err := rows.Scan(&f.Provider, &f.Asset, &f.Kind, &f.Granularity, &f.RecordCount, &oldest, &newest, &last, &updated); err != nil {
			return nil, s.wrap("feed summaries: scan", err)
		}
		f.OldestTs, f.NewestTs = fromMicros(oldest), fromMicros(newest)
		f.WatermarkTs, f.WatermarkUpdatedAt = ptrFromMicros(last), ptrFromMicros(updated)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("feed summaries", err)
	}
	return out, nil
}

// IngestionStates returns every watermark ordered by provider, asset, kind,
// granularity.
func (s *Store) IngestionStates(ctx context.Context) ([]store.IngestionState, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT provider, asset, kind, granularity, last_event_ts, updated_at, meta_jsonb
FROM market_ingestion_state ORDER BY provider, asset, kind, granularity`)
	if err != nil {
		return nil, s.wrap("ingestion states", err)
	}
	defer rows.Close()
	var out []store.IngestionState
	for rows.Next() {
		var st store.IngestionState
		var last sql.NullInt64
		var updated int64
		var meta sql.NullString
		if err := rows.Scan(&st.Provider, &st.Asset, &st.Kind, &st.Granularity, &last, &updated, &meta); err != nil {
			return nil, s.wrap("ingestion states: scan", err)
		}
		st.LastEventTs, st.UpdatedAt, st.Meta = ptrFromMicros(last), fromMicros(updated), rawJSON(meta, "{}")
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("ingestion states", err)
	}
	return out, nil
}
