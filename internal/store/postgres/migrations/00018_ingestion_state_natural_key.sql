-- 00018_ingestion_state_natural_key: the primary key of
-- market_ingestion_state becomes its natural key (provider, asset, kind,
-- granularity), the unique index uq_market_ingestion_scope (renamed
-- market_ingestion_state_pkey), instead of the id column, as 00014 did for
-- market_records (SQLite's 00018 is a no-op, so both backends report the
-- same version).
--
-- The watermark upsert (UpsertMarketRecords) names the natural key in its
-- ON CONFLICT. PostgreSQL resolves only the arbiter's conflicts: two nodes
-- inserting the first watermark of the same feed at the same moment made
-- one of them fail on the other unique constraint, the primary key on id
-- ("duplicate key value violates unique constraint
-- market_ingestion_state_pkey"), rolling back its records too. With one
-- unique constraint the upsert cannot fail that way. The id column stays
-- and is still written.

-- Re-runnable, like every migration here: a schema where the swap was
-- done (no uq_market_ingestion_scope any more) is left as it is.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('uq_market_ingestion_scope') IS NOT NULL THEN
        ALTER TABLE market_ingestion_state DROP CONSTRAINT IF EXISTS market_ingestion_state_pkey;
        ALTER TABLE market_ingestion_state ADD CONSTRAINT market_ingestion_state_pkey PRIMARY KEY USING INDEX uq_market_ingestion_scope;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('uq_market_ingestion_scope') IS NULL THEN
        ALTER TABLE market_ingestion_state DROP CONSTRAINT IF EXISTS market_ingestion_state_pkey;
        CREATE UNIQUE INDEX uq_market_ingestion_scope ON market_ingestion_state (provider, asset, kind, granularity);
        ALTER TABLE market_ingestion_state ADD CONSTRAINT market_ingestion_state_pkey PRIMARY KEY (id);
    END IF;
END $$;
-- +goose StatementEnd
