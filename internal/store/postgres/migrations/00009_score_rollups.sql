-- 00009_score_rollups: per-series, per-hour summaries of the scored
-- predictions (mirrors SQLite's migrationRollups (sqlite/rollups.go), so
-- both backends report the same version).
--
-- One row per (model_id, scope_key, bucket_end) is a store.ScoreRollup:
-- the predictions performed in (bucket_end - 1 h, bucket_end] that have a
-- score: how many (scored), how many were answered (successful with a
-- value) and the sum of their values, and the newest of them (by
-- performed_at, then id) with its scope and value. The store writes it in
-- the transaction that scores the predictions (store.RollupsOf); it is what
-- /reports/models/params reads instead of every scored prediction of the
-- window. This migration fills it from the predictions already scored, so
-- an upgraded database answers at once (the same rule, in SQL).

-- +goose Up
CREATE TABLE IF NOT EXISTS score_rollups (
    model_id          varchar     NOT NULL,
    scope_key         varchar     NOT NULL,
    bucket_end        timestamptz NOT NULL,
    scored            bigint      NOT NULL,
    answered          bigint      NOT NULL,
    total             float8      NOT NULL,
    last_id           varchar     NOT NULL,
    last_performed_at timestamptz NOT NULL,
    last_scope_jsonb  jsonb       NOT NULL,
    last_value        float8,
    PRIMARY KEY (model_id, scope_key, bucket_end)
);
DELETE FROM score_rollups;
INSERT INTO score_rollups
SELECT model_id, scope_key, bucket_end, COUNT(*),
    COUNT(*) FILTER (WHERE score_success AND score_value IS NOT NULL),
    COALESCE(SUM(score_value) FILTER (WHERE score_success), 0),
    MAX(id) FILTER (WHERE rn = 1), MAX(performed_at) FILTER (WHERE rn = 1),
    COALESCE((ARRAY_AGG(scope_jsonb) FILTER (WHERE rn = 1))[1], '{}'::jsonb),
    MAX(score_value) FILTER (WHERE rn = 1 AND score_success)
FROM (SELECT id, model_id, scope_key, scope_jsonb, performed_at, score_value, score_success, bucket_end,
        ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, bucket_end ORDER BY performed_at DESC, id COLLATE "C" DESC) AS rn
    FROM (SELECT *, to_timestamp(ceil(EXTRACT(EPOCH FROM performed_at) / 3600) * 3600) AS bucket_end
        FROM predictions WHERE score_scored_at IS NOT NULL OR score_success IS NOT NULL) AS p) AS ranked
GROUP BY model_id, scope_key, bucket_end;

-- +goose Down
DROP TABLE IF EXISTS score_rollups;
