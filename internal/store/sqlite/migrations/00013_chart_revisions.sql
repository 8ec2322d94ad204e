-- 00013_chart_revisions: table chart_revisions holds one store.ChartRevision
-- per (kind, model_id, scope_key, day_end): how many write transactions
-- changed the chart data of that series and day (day_end in unix
-- microseconds, store.ChartDayEnd: days (end - 24 h, end]). The store
-- increments it in the transaction that writes the data: kind
-- 'predictions' for predictions performed in the day, inserted or scored
-- (SavePredictCycle, ClaimAndScore; so also their score rollups), kind
-- 'model_scores' (scope_key '') for score points computed in the day
-- (SaveLeaderboard). The report API caches chart data per series and day
-- and reuses it while the revision is unchanged. Filled here with 1 for
-- every series and day that already has data, so an upgraded database
-- has a revision wherever it has chart data (re-running it restarts at 1,
-- which only costs the caches a refresh). Mirrors PostgreSQL's 00013.

-- +goose Up
CREATE TABLE IF NOT EXISTS chart_revisions (
    kind      TEXT    NOT NULL,
    model_id  TEXT    NOT NULL,
    scope_key TEXT    NOT NULL,
    day_end   INTEGER NOT NULL,
    rev       INTEGER NOT NULL,
    PRIMARY KEY (kind, model_id, scope_key, day_end)
) WITHOUT ROWID;
DELETE FROM chart_revisions;
INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)
SELECT DISTINCT 'predictions', model_id, scope_key,
    (CASE WHEN performed_at % 86400000000 > 0 THEN performed_at / 86400000000 + 1 ELSE performed_at / 86400000000 END) * 86400000000, 1
FROM predictions;
INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)
SELECT DISTINCT 'model_scores', model_id, '',
    (CASE WHEN computed_at % 86400000000 > 0 THEN computed_at / 86400000000 + 1 ELSE computed_at / 86400000000 END) * 86400000000, 1
FROM model_scores;

-- +goose Down
DROP TABLE IF EXISTS chart_revisions;
