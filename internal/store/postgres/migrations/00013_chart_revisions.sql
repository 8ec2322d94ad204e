-- 00013_chart_revisions: table chart_revisions holds one store.ChartRevision
-- per (kind, model_id, scope_key, day_end): how many write transactions
-- changed the chart data of that series and day (store.ChartDayEnd: days
-- (end - 24 h, end]). The store increments it in the transaction that
-- writes the data, under the row's lock, so a later commit always leaves
-- a larger revision: kind 'predictions' for predictions performed in the
-- day, inserted or scored (SavePredictCycle, ClaimAndScore; so also their
-- score rollups), kind 'model_scores' (scope_key '') for score points
-- computed in the day (SaveLeaderboard). The report API caches chart data
-- per series and day and reuses it while the revision is unchanged.
-- Filled here with 1 for every series and day that already has data, so
-- an upgraded database has a revision wherever it has chart data.
-- Mirrors SQLite's 00013.

-- +goose Up
CREATE TABLE IF NOT EXISTS chart_revisions (
    kind      varchar     NOT NULL,
    model_id  varchar     NOT NULL,
    scope_key varchar     NOT NULL,
    day_end   timestamptz NOT NULL,
    rev       bigint      NOT NULL,
    PRIMARY KEY (kind, model_id, scope_key, day_end)
);
DELETE FROM chart_revisions;
INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)
SELECT DISTINCT 'predictions', model_id, scope_key, to_timestamp(ceil(EXTRACT(EPOCH FROM performed_at) / 86400) * 86400), 1
FROM predictions;
INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)
SELECT DISTINCT 'model_scores', model_id, '', to_timestamp(ceil(EXTRACT(EPOCH FROM computed_at) / 86400) * 86400), 1
FROM model_scores;

-- +goose Down
DROP TABLE IF EXISTS chart_revisions;
