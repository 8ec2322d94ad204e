-- 00001_init: the coordinator schema (reference-system.md 7.1, Feb-2026,
-- with the fixes of 14.2-14.4). Source of truth for column names; the
-- PostgreSQL migrations use the same table, column and index names.
--
-- SQLite storage types:
--   * times are INTEGER unix microseconds UTC (PostgreSQL: TIMESTAMPTZ), so
--     ordering and range comparisons are numeric and exact;
--   * JSON is TEXT holding the exact JSON text written (PostgreSQL: JSONB);
--     the application writes {} / [] for empty values, never NULL;
--   * booleans are INTEGER 0/1 (PostgreSQL: BOOLEAN);
--   * floats are REAL (PostgreSQL: DOUBLE PRECISION); NaN/Inf are refused by
--     the application.
-- Fixes relative to the reference: models has no overall_score_jsonb /
-- scores_by_scope_jsonb (never written, 14.2 #20); predictions get a claim
-- index on (status, score_scored_at, resolvable_at, id); model_scores is used as
-- the score history; checkpoints are ordered newest-first by
-- (last_run_at DESC NULLS LAST, id DESC).
-- Every statement is IF NOT EXISTS so re-running on a partially created
-- schema is harmless; there is no Down section (data is never dropped by a
-- migration; a destructive reset is a separate, explicit command).

-- +goose Up

CREATE TABLE IF NOT EXISTS models (
    id                    TEXT    NOT NULL PRIMARY KEY,
    name                  TEXT    NOT NULL,
    deployment_identifier TEXT    NOT NULL,
    player_id             TEXT    NOT NULL,
    player_name           TEXT    NOT NULL,
    meta_jsonb            TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_models_player_id ON models (player_id);
CREATE INDEX IF NOT EXISTS ix_models_created_at ON models (created_at);
CREATE INDEX IF NOT EXISTS ix_models_updated_at ON models (updated_at);

CREATE TABLE IF NOT EXISTS scheduled_prediction_configs (
    id                   TEXT    NOT NULL PRIMARY KEY,
    scope_key            TEXT    NOT NULL,
    scope_template_jsonb TEXT,
    schedule_jsonb       TEXT,
    active               INTEGER NOT NULL,
    "order"              INTEGER NOT NULL,
    meta_jsonb           TEXT
);
CREATE INDEX IF NOT EXISTS ix_scheduled_prediction_configs_scope_key ON scheduled_prediction_configs (scope_key);
CREATE INDEX IF NOT EXISTS ix_scheduled_prediction_configs_active ON scheduled_prediction_configs (active);

CREATE TABLE IF NOT EXISTS predictions (
    id                     TEXT    NOT NULL PRIMARY KEY,
    model_id               TEXT    NOT NULL REFERENCES models (id),
    prediction_config_id   TEXT    REFERENCES scheduled_prediction_configs (id),
    scope_key              TEXT    NOT NULL,
    scope_jsonb            TEXT,
    status                 TEXT    NOT NULL,
    exec_time_ms           REAL    NOT NULL,
    inference_input_jsonb  TEXT,
    inference_output_jsonb TEXT,
    meta_jsonb             TEXT,
    performed_at           INTEGER NOT NULL,
    resolvable_at          INTEGER NOT NULL,
    score_value            REAL,
    score_success          INTEGER,
    score_failed_reason    TEXT,
    score_scored_at        INTEGER
);
-- claim: WHERE status = 'SUCCESS' AND score_scored_at IS NULL AND resolvable_at <= ? ORDER BY resolvable_at
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (status, score_scored_at, resolvable_at, id);
-- ScoredPredictions / ModelScoreStats
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at, id);
-- LatestPerformedAt
CREATE INDEX IF NOT EXISTS idx_predictions_config_performed ON predictions (prediction_config_id, performed_at);
-- ListPredictions
CREATE INDEX IF NOT EXISTS ix_predictions_performed_at ON predictions (performed_at, id);
CREATE INDEX IF NOT EXISTS idx_predictions_lookup ON predictions (model_id, scope_key);
CREATE INDEX IF NOT EXISTS ix_predictions_resolvable_at ON predictions (resolvable_at);

CREATE TABLE IF NOT EXISTS model_scores (
    id                  TEXT    NOT NULL PRIMARY KEY,
    model_id            TEXT    NOT NULL REFERENCES models (id),
    score_payload_jsonb TEXT,
    computed_at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_model_scores_computed_model ON model_scores (computed_at, model_id, id);
CREATE INDEX IF NOT EXISTS ix_model_scores_model_id ON model_scores (model_id, computed_at);

CREATE TABLE IF NOT EXISTS leaderboards (
    id            TEXT    NOT NULL PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    entries_jsonb TEXT,
    meta_jsonb    TEXT
);
CREATE INDEX IF NOT EXISTS ix_leaderboards_created_at ON leaderboards (created_at, id);

CREATE TABLE IF NOT EXISTS checkpoints (
    id               TEXT    NOT NULL PRIMARY KEY,
    checkpoint_kind  TEXT    NOT NULL,
    interval_seconds INTEGER NOT NULL,
    last_run_at      INTEGER,
    next_run_at      INTEGER,
    meta_jsonb       TEXT
);
CREATE INDEX IF NOT EXISTS ix_checkpoints_kind_last_run_at ON checkpoints (checkpoint_kind, last_run_at, id);
CREATE INDEX IF NOT EXISTS ix_checkpoints_next_run_at ON checkpoints (next_run_at);

CREATE TABLE IF NOT EXISTS emission_checkpoints (
    id            TEXT    NOT NULL PRIMARY KEY,
    checkpoint_id TEXT    NOT NULL REFERENCES checkpoints (id),
    emitted_at    INTEGER NOT NULL,
    payload_jsonb TEXT
);
CREATE INDEX IF NOT EXISTS ix_emission_checkpoints_checkpoint_id ON emission_checkpoints (checkpoint_id, emitted_at);
CREATE INDEX IF NOT EXISTS ix_emission_checkpoints_emitted_at ON emission_checkpoints (emitted_at);

CREATE TABLE IF NOT EXISTS market_records (
    id           TEXT    NOT NULL PRIMARY KEY,
    provider     TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    granularity  TEXT    NOT NULL,
    ts_event     INTEGER NOT NULL,
    ts_ingested  INTEGER NOT NULL,
    values_jsonb TEXT,
    meta_jsonb   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_market_records_event ON market_records (provider, asset, kind, granularity, ts_event);
CREATE INDEX IF NOT EXISTS ix_market_records_ts_event ON market_records (ts_event);

CREATE TABLE IF NOT EXISTS market_ingestion_state (
    id            TEXT    NOT NULL PRIMARY KEY,
    provider      TEXT    NOT NULL,
    asset         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    granularity   TEXT    NOT NULL,
    last_event_ts INTEGER,
    updated_at    INTEGER NOT NULL,
    meta_jsonb    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_market_ingestion_scope ON market_ingestion_state (provider, asset, kind, granularity);
