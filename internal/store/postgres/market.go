package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// upsertMarketSQL upserts records by their unique event key (provider,
// asset, kind, granularity, ts_event); the id is store.MarketRecordID. An
// existing row gets the new values, meta and ts_ingested.
const upsertMarketSQL = `
INSERT INTO market_records (id, provider, asset, kind, granularity, ts_event, ts_ingested, values_jsonb, meta_jsonb)
SELECT u.id, u.provider, u.asset, u.kind, u.granularity, u.ts_event, u.ts_ingested, u.vals::jsonb, u.meta::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[])
     AS u(id, provider, asset, kind, granularity, ts_event, ts_ingested, vals, meta)
ON CONFLICT (provider, asset, kind, granularity, ts_event) DO UPDATE SET
    values_jsonb = EXCLUDED.values_jsonb,
    meta_jsonb = EXCLUDED.meta_jsonb,
    ts_ingested = EXCLUDED.ts_ingested`

// advanceWatermarksSQL moves each touched feed's watermark to the newest
// event written (never backwards); updated_at becomes the newest
// ts_ingested of the batch for that feed; an existing meta is kept.
const advanceWatermarksSQL = `
INSERT INTO market_ingestion_state (id, provider, asset, kind, granularity, last_event_ts, updated_at, meta_jsonb)
SELECT u.provider || ':' || u.asset || ':' || u.kind || ':' || u.granularity,
       u.provider, u.asset, u.kind, u.granularity, max(u.ts_event), max(u.ts_ingested), '{}'::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
     AS u(provider, asset, kind, granularity, ts_event, ts_ingested)
GROUP BY u.provider, u.asset, u.kind, u.granularity
ON CONFLICT (provider, asset, kind, granularity) DO UPDATE SET
    last_event_ts = GREATEST(market_ingestion_state.last_event_ts, EXCLUDED.last_event_ts),
    updated_at = EXCLUDED.updated_at`

// UpsertMarketRecords upserts records by (provider, asset, kind,
// granularity, ts_event) in one transaction and advances each feed's
// watermark (market_ingestion_state.last_event_ts) to its newest event.
//
// The transaction is one batch (inBatchTx) with its COMMIT in the same
// round trip (txOptions.commitInBatch: the statements' answers are only
// checked, so a failed statement rolls everything back and nothing else
// needs to), committed asynchronously (txOptions.asyncCommit): its COMMIT does not wait for a WAL flush, about
// half a millisecond per feed record on the benchmark machine, on the path
// from a feed record to its predictions (issue 16 item 5). A server crash
// can lose the newest records together with the watermark that covers them
// (never one without the other); the feed poller compares the stored
// watermark with the newest record it wrote at every poll and fetches the
// lost ones again (feed.Poller.storeLost), also when the node kept running
// through the server's restart. A
// prediction built on a record is committed synchronously after it, which
// flushes the WAL up to and including the record: no stored prediction
// ever outlives the record it was made from.
// Zero TsIngested means now; nil Values/Meta are stored as {}. A repeated
// key in the batch keeps the last record. Returns the number of records
// written (inserted or updated; len(records) on success). Empty provider/asset/kind/granularity, a
// zero TsEvent or invalid JSON fail with store.ErrInvalidValue.
func (s *Store) UpsertMarketRecords(ctx context.Context, records []store.MarketRecord) (int, error) {
	n := len(records)
	ids := make([]string, 0, n)
	providers := make([]string, 0, n)
	assets := make([]string, 0, n)
	kinds := make([]string, 0, n)
	grans := make([]string, 0, n)
	events := make([]time.Time, 0, n)
	ingested := make([]time.Time, 0, n)
	values := make([]string, 0, n)
	metas := make([]string, 0, n)
	index := make(map[string]int, n)
	records, err := store.NormalizeMarketRecords(records)
	if err != nil {
		return 0, fmt.Errorf("postgres store upsert market records: %w", err)
	}
	for _, r := range records {
		id := store.MarketRecordID(r.Provider, r.Asset, r.Kind, r.Granularity, r.TsEvent)
		key := r.Provider + "\x00" + r.Asset + "\x00" + r.Kind + "\x00" + r.Granularity + "\x00" + r.TsEvent.Truncate(time.Microsecond).Format(time.RFC3339Nano)
		if j, ok := index[key]; ok {
			ingested[j], values[j], metas[j] = r.TsIngested, string(r.Values), string(r.Meta)
			continue
		}
		index[key] = len(ids)
		ids = append(ids, id)
		providers = append(providers, r.Provider)
		assets = append(assets, r.Asset)
		kinds = append(kinds, r.Kind)
		grans = append(grans, r.Granularity)
		events = append(events, r.TsEvent)
		ingested = append(ingested, r.TsIngested)
		values = append(values, string(r.Values))
		metas = append(metas, string(r.Meta))
	}
	if len(ids) == 0 {
		return 0, s.ready(ctx)
	}
	var written int
	err = s.inBatchTx(ctx, "upsert market records", txOptions{asyncCommit: true, commitInBatch: true}, func(b *pgx.Batch) {
		b.Queue(upsertMarketSQL, ids, providers, assets, kinds, grans, events, ingested, values, metas)
		b.Queue(advanceWatermarksSQL, providers, assets, kinds, grans, events, ingested)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("upsert %d market records: %w", len(ids), err)
		}
		if int(tag.RowsAffected()) != len(ids) {
			return fmt.Errorf("upsert %d market records: expected %d rows written, found %d", len(ids), len(ids), tag.RowsAffected())
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("advance ingestion watermarks: %w", err)
		}
		written = len(records)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return written, nil
}

// QueryMarketRecords returns records matching q: empty strings and zero
// times are no filter, [Start, End] bounds ts_event inclusively, Limit 0 =
// 1000. Records are ordered by ts_event, provider, asset, kind,
// granularity ascending (Descending: all descending, so the newest Limit
// records come back newest first).
func (s *Store) QueryMarketRecords(ctx context.Context, q store.MarketQuery) ([]store.MarketRecord, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store query market records: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var b query
	// A column the query fixes is not read back: every row holds the
	// filter's value (text equality under a deterministic collation is byte
	// equality). fixed lists, per unfixed column, the field it scans into.
	var cols []string
	var fixed []func(*store.MarketRecord) *string
	for _, f := range []struct {
		col, v string
		field  func(*store.MarketRecord) *string
	}{
		{"provider", q.Provider, func(m *store.MarketRecord) *string { return &m.Provider }},
		{"asset", q.Asset, func(m *store.MarketRecord) *string { return &m.Asset }},
		{"kind", q.Kind, func(m *store.MarketRecord) *string { return &m.Kind }},
		{"granularity", q.Granularity, func(m *store.MarketRecord) *string { return &m.Granularity }},
	} {
		if f.v != "" {
			b.add(f.col+" = ?", f.v)
		} else {
			cols = append(cols, f.col)
			fixed = append(fixed, f.field)
		}
	}
	if !q.Start.IsZero() {
		b.add("ts_event >= ?", q.Start)
	}
	if !q.End.IsZero() {
		b.add("ts_event <= ?", q.End)
	}
	if !q.IngestedBy.IsZero() {
		b.add("ts_ingested <= ?", q.IngestedBy)
	}
	order := ` ORDER BY ts_event, provider, asset, kind, granularity`
	if q.Descending {
		order = ` ORDER BY ts_event DESC, provider DESC, asset DESC, kind DESC, granularity DESC`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+strings.Join(append(cols, "ts_event", "ts_ingested", "values_jsonb", "meta_jsonb"), ", ")+`
		FROM market_records`+b.clause()+order+` LIMIT `+b.arg(q.Limit), b.args...)
	if err != nil {
		return nil, s.wrap("query market records", err)
	}
	dest := make([]any, len(fixed)+4)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MarketRecord, error) {
		m := store.MarketRecord{Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity}
		var vals, meta []byte
		for i, f := range fixed {
			dest[i] = f(&m)
		}
		n := len(fixed)
		dest[n], dest[n+1], dest[n+2], dest[n+3] = &m.TsEvent, &m.TsIngested, &vals, &meta
		err := r.Scan(dest...)
		m.TsEvent, m.TsIngested, m.Values, m.Meta = utc(m.TsEvent), utc(m.TsIngested), rawJSON(vals), rawJSON(meta)
		return m, err
	})
	if err != nil {
		return nil, s.wrap("query market records", err)
	}
	return out, nil
}

// FeedSummaries returns one summary per feed that has records, with its
// record count, oldest and newest ts_event and watermark, ordered by
// provider, asset, kind, granularity.
func (s *Store) FeedSummaries(ctx context.Context) ([]store.FeedSummary, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
SELECT r.provider, r.asset, r.kind, r.granularity, r.n, r.oldest, r.newest, st.last_event_ts, st.updated_at
FROM (SELECT provider, asset, kind, granularity, count(*) AS n, min(ts_event) AS oldest, max(ts_event) AS newest
      FROM market_records GROUP BY provider, asset, kind, granularity) AS r
LEFT JOIN market_ingestion_state AS st
       ON st.provider = r.provider AND st.asset = r.asset AND st.kind = r.kind AND st.granularity = r.granularity
ORDER BY r.provider, r.asset, r.kind, r.granularity`)
	if err != nil {
		return nil, s.wrap("feed summaries", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.FeedSummary, error) {
		var f store.FeedSummary
		var wm, wmUpdated *time.Time
		err := r.Scan(&f.Provider, &f.Asset, &f.Kind, &f.Granularity, &f.RecordCount, &f.OldestTs, &f.NewestTs, &wm, &wmUpdated)
		f.OldestTs, f.NewestTs, f.WatermarkTs, f.WatermarkUpdatedAt = utc(f.OldestTs), utc(f.NewestTs), utcPtr(wm), utcPtr(wmUpdated)
		return f, err
	})
	if err != nil {
		return nil, s.wrap("feed summaries", err)
	}
	return out, nil
}

// IngestionStates returns every feed watermark ordered by provider, asset,
// kind, granularity.
func (s *Store) IngestionStates(ctx context.Context) ([]store.IngestionState, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT provider, asset, kind, granularity, last_event_ts, updated_at, meta_jsonb
		FROM market_ingestion_state ORDER BY provider, asset, kind, granularity`)
	if err != nil {
		return nil, s.wrap("ingestion states", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.IngestionState, error) {
		var st store.IngestionState
		var last *time.Time
		var meta []byte
		err := r.Scan(&st.Provider, &st.Asset, &st.Kind, &st.Granularity, &last, &st.UpdatedAt, &meta)
		st.LastEventTs, st.UpdatedAt, st.Meta = utcPtr(last), utc(st.UpdatedAt), rawJSON(meta)
		return st, err
	})
	if err != nil {
		return nil, s.wrap("ingestion states", err)
	}
	return out, nil
}
