-- 00001_init: the coordinator schema (reference-system.md 7.1, Feb-2026,
-- with the fixes of 14.2-14.4). Table, column and index names mirror
-- internal/store/sqlite/migrations/00001_init.sql.
--
-- PostgreSQL storage types: every time is timestamptz (UTC), JSON is JSONB
-- (the application writes {} / [] for empty values, never NULL), floats are
-- double precision (NaN/Inf refused by the application).
-- Fixes relative to the reference: models has no overall_score_jsonb /
-- scores_by_scope_jsonb (never written, 14.2 #20); a partial claim index
-- serves ClaimAndScore; model_scores is the score history; checkpoints are
-- ordered newest-first by (last_run_at DESC NULLS LAST, id DESC).
-- predictions.model_id -> models.id and prediction_config_id ->
-- scheduled_prediction_configs.id are the same references as in SQLite, but
-- they are checked set-wise by the store in the inserting transaction (one
-- query per batch) instead of by per-row FOREIGN KEY triggers, which cost a
-- third of the bulk insert time; models and schedule rows are never deleted
-- (ReplaceSchedules deactivates), so a checked reference stays valid.
-- Every statement is IF NOT EXISTS; data is never dropped by a migration
-- (a destructive reset is a separate, explicit command).

-- +goose Up
CREATE TABLE IF NOT EXISTS models (
    id                    varchar     PRIMARY KEY,
    name                  varchar     NOT NULL,
    deployment_identifier varchar     NOT NULL,
    player_id             varchar     NOT NULL,
    player_name           varchar     NOT NULL,
    meta_jsonb            jsonb,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_models_player_id ON models (player_id);
CREATE INDEX IF NOT EXISTS ix_models_created_at ON models (created_at);
CREATE INDEX IF NOT EXISTS ix_models_updated_at ON models (updated_at);

CREATE TABLE IF NOT EXISTS scheduled_prediction_configs (
    id                   varchar PRIMARY KEY,
    scope_key            varchar NOT NULL,
    scope_template_jsonb jsonb,
    schedule_jsonb       jsonb,
    active               boolean NOT NULL,
    "order"              integer NOT NULL,
    meta_jsonb           jsonb
);
CREATE INDEX IF NOT EXISTS ix_scheduled_prediction_configs_scope_key ON scheduled_prediction_configs (scope_key);
CREATE INDEX IF NOT EXISTS ix_scheduled_prediction_configs_active ON scheduled_prediction_configs (active);

CREATE TABLE IF NOT EXISTS predictions (
    id                     varchar          PRIMARY KEY,
    model_id               varchar          NOT NULL,
    prediction_config_id   varchar,
    scope_key              varchar          NOT NULL,
    scope_jsonb            jsonb,
    status                 varchar          NOT NULL,
    exec_time_ms           double precision NOT NULL,
    inference_input_jsonb  jsonb,
    inference_output_jsonb jsonb,
    meta_jsonb             jsonb,
    performed_at           timestamptz      NOT NULL,
    resolvable_at          timestamptz      NOT NULL,
    score_value            double precision,
    score_success          boolean,
    score_failed_reason    varchar,
    score_scored_at        timestamptz
);
-- Claim queue (ClaimAndScore): only unscored SUCCESS predictions, partial.
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (resolvable_at, id)
    WHERE status = 'SUCCESS' AND score_scored_at IS NULL;
-- ScoredPredictions / ModelScoreStats
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at);
-- LatestPerformedAt
CREATE INDEX IF NOT EXISTS idx_predictions_config_performed ON predictions (prediction_config_id, performed_at);
-- ListPredictions
CREATE INDEX IF NOT EXISTS ix_predictions_performed_at ON predictions (performed_at);
CREATE INDEX IF NOT EXISTS idx_predictions_lookup ON predictions (model_id, scope_key);
CREATE INDEX IF NOT EXISTS ix_predictions_resolvable_at ON predictions (resolvable_at);

CREATE TABLE IF NOT EXISTS model_scores (
    id                  varchar     PRIMARY KEY,
    model_id            varchar     NOT NULL REFERENCES models (id),
    score_payload_jsonb jsonb,
    computed_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_model_scores_computed_model ON model_scores (computed_at, model_id);
CREATE INDEX IF NOT EXISTS ix_model_scores_model_id ON model_scores (model_id, computed_at);

CREATE TABLE IF NOT EXISTS leaderboards (
    id            varchar     PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    entries_jsonb jsonb,
    meta_jsonb    jsonb
);
CREATE INDEX IF NOT EXISTS ix_leaderboards_created_at ON leaderboards (created_at);

CREATE TABLE IF NOT EXISTS checkpoints (
    id               varchar     PRIMARY KEY,
    checkpoint_kind  varchar     NOT NULL,
    interval_seconds integer     NOT NULL,
    last_run_at      timestamptz,
    next_run_at      timestamptz,
    meta_jsonb       jsonb
);
CREATE INDEX IF NOT EXISTS ix_checkpoints_kind_last_run_at ON checkpoints (checkpoint_kind, last_run_at);
CREATE INDEX IF NOT EXISTS ix_checkpoints_next_run_at ON checkpoints (next_run_at);

CREATE TABLE IF NOT EXISTS emission_checkpoints (
    id            varchar     PRIMARY KEY,
    checkpoint_id varchar     NOT NULL REFERENCES checkpoints (id),
    emitted_at    timestamptz NOT NULL,
    payload_jsonb jsonb
);
CREATE INDEX IF NOT EXISTS ix_emission_checkpoints_checkpoint_id ON emission_checkpoints (checkpoint_id, emitted_at);
CREATE INDEX IF NOT EXISTS ix_emission_checkpoints_emitted_at ON emission_checkpoints (emitted_at);

CREATE TABLE IF NOT EXISTS market_records (
    id           varchar     PRIMARY KEY,
    provider     varchar     NOT NULL,
    asset        varchar     NOT NULL,
    kind         varchar     NOT NULL,
    granularity  varchar     NOT NULL,
    ts_event     timestamptz NOT NULL,
    ts_ingested  timestamptz NOT NULL,
    values_jsonb jsonb,
    meta_jsonb   jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_market_records_event ON market_records (provider, asset, kind, granularity, ts_event);
CREATE INDEX IF NOT EXISTS ix_market_records_ts_event ON market_records (ts_event);

CREATE TABLE IF NOT EXISTS market_ingestion_state (
    id            varchar     PRIMARY KEY,
    provider      varchar     NOT NULL,
    asset         varchar     NOT NULL,
    kind          varchar     NOT NULL,
    granularity   varchar     NOT NULL,
    last_event_ts timestamptz,
    updated_at    timestamptz NOT NULL,
    meta_jsonb    jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_market_ingestion_scope ON market_ingestion_state (provider, asset, kind, granularity);

-- +goose Down
-- Irreversible by design: the schema is only ever migrated forward and data
-- is never dropped by a migration (reference-system.md 14.3 #24).
SELECT 1;
