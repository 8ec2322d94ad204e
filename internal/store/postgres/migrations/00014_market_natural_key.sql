-- 00014_market_natural_key: the primary key of market_records becomes its
-- natural key (provider, asset, kind, granularity, ts_event), the unique
-- index uq_market_records_event (renamed market_records_pkey), instead of
-- the id column (SQLite's 00014 is a no-op, so both backends report the
-- same version).
--
-- id is store.MarketRecordID, a hash of the natural key: unique whenever
-- the key is, written with every record and never read by a query (every
-- lookup, the upsert's ON CONFLICT included, names the natural key, and a
-- time range without a feed reads ix_market_records_ts_event). Its own
-- index held a 41-byte entry per record: 0.17 MB of the baseline pack's
-- one-day replay (30 bytes per prediction with its 4 models). The column
-- stays and is still written. Nothing is dropped but that index.

-- Re-runnable, like every migration here: a schema where the swap was
-- done (no uq_market_records_event any more) is left as it is.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('uq_market_records_event') IS NOT NULL THEN
        ALTER TABLE market_records DROP CONSTRAINT IF EXISTS market_records_pkey;
        ALTER TABLE market_records ADD CONSTRAINT market_records_pkey PRIMARY KEY USING INDEX uq_market_records_event;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE market_records DROP CONSTRAINT IF EXISTS market_records_pkey;
CREATE UNIQUE INDEX IF NOT EXISTS uq_market_records_event ON market_records (provider, asset, kind, granularity, ts_event);
ALTER TABLE market_records ADD CONSTRAINT market_records_pkey PRIMARY KEY (id);
