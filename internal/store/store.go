// Package store is the storage contract every worker and the report API use.
// Two implementations behave the same: internal/store/postgres (pgx/v5,
// production) and internal/store/sqlite (modernc.org/sqlite, the embedded
// default). internal/store/storetest is the conformance suite both pass.
//
// Tables follow reference-system.md 7.1 (Feb-2026 schema) with timestamptz
// times, JSON columns (JSONB / TEXT) and versioned migrations.
//
// Value rules live in this package, not in the drivers (validate.go): every
// row type normalises and checks itself (Model.Normalize,
// Prediction.Normalize, NormalizePredictions, ...) and every write method of
// a driver calls them before binding anything, so both backends refuse
// exactly the same values.
//
// Rules every implementation keeps:
//   - Times go in and come out in UTC.
//   - Invalid values are refused with ErrInvalidValue before anything is
//     written: empty ids, NaN or ±Inf floats, text that is not JSON (the
//     NaN and Infinity tokens included), JSON numbers that overflow float64
//     (1e999), \u0000 escapes in JSON strings, out-of-range integers.
//   - Prediction ids are deterministic (PredictionID); inserting an existing
//     id is a no-op. Scoring an already-scored prediction is a no-op.
//   - Market records are unique on (provider, asset, kind, granularity,
//     ts_event) and upserted.
//   - "Latest N" queries return the newest N.
//   - Errors from a lost connection wrap ErrUnavailable (retryable).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w and context.
var (
	// ErrNotFound: the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidValue: a value cannot be stored (NaN, ±Inf, invalid JSON, empty id).
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnavailable: the database cannot be reached or the connection was
	// lost; the operation was not applied and may be retried.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNotMigrated: the schema is missing or older than this binary needs;
	// run `coordinator migrate`.
	ErrNotMigrated = errors.New("database not migrated")
)

// Prediction statuses (reference-system.md 5.2 plus Go additions).
const (
	StatusSuccess           = "SUCCESS"
	StatusFailed            = "FAILED"
	StatusTimeout           = "TIMEOUT"
	StatusCrashed           = "CRASHED"
	StatusAbsent            = "ABSENT"
	StatusBadImplementation = "BAD_IMPLEMENTATION"
	// StatusUnresolved: a SUCCESS prediction whose ground truth could not be
	// resolved within the configured bound; terminal, never scored.
	StatusUnresolved = "UNRESOLVED"
)

// Model is a participant model row (table models).
type Model struct {
	ID           string
	Name         string
	DeploymentID string
	PlayerID     string
	PlayerName   string
	Meta         json.RawMessage // object; nil is stored as {}
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ScheduleRow is a scheduled prediction config row.
type ScheduleRow struct {
	ID            string
	ScopeKey      string
	ScopeTemplate json.RawMessage // object
	Schedule      json.RawMessage // canonical schedule envelope object
	Active        bool
	Order         int
	Meta          json.RawMessage
}

// Prediction is one stored prediction (table predictions). ExecTimeMs is in
// milliseconds. Score is nil until scored. GroundTruth is the ground truth
// the challenge's resolver returned for it (a JSON object, nil until
// resolved): written by ClaimAndScore with the score or the terminal
// status, never by SavePredictCycle.
//
// The inference input is stored once per distinct content (table inputs,
// migration 00005), not once per prediction: the predictions of one predict
// cycle share it. InputID is set by Normalize (InputID of the input) and
// read back with it; it is empty for a prediction stored before 00005,
// whose input sits in its own row. Reads return InferenceInput either way.
type Prediction struct {
	ID                 string
	ModelID            string
	PredictionConfigID string // may be empty
	ScopeKey           string
	Scope              json.RawMessage
	Status             string
	ExecTimeMs         float64
	InferenceInput     json.RawMessage
	InputID            string
	InferenceOutput    json.RawMessage
	Meta               json.RawMessage
	PerformedAt        time.Time
	ResolvableAt       time.Time
	Score              *Score
	GroundTruth        json.RawMessage
}

// Score is the score columns of a prediction.
type Score struct {
	Value        *float64
	Success      bool
	FailedReason string
	ScoredAt     time.Time
}

// ScoreUpdate is the outcome the score worker records for one claimed
// prediction: a Score, or (Score nil) a terminal Status such as
// StatusUnresolved with Reason. A claimed prediction with no ScoreUpdate
// stays unscored and is claimed again later. GroundTruth, when set (a JSON
// object), is stored with either outcome (Prediction.GroundTruth), so the
// score, or the reason it could not be scored, can be audited from the
// database alone.
type ScoreUpdate struct {
	PredictionID string
	Score        *Score
	Status       string
	Reason       string
	GroundTruth  json.RawMessage
}

// Leaderboard is one leaderboard snapshot; the newest is "the" leaderboard.
// Entries is a JSON array of sdk.LeaderboardEntry.
type Leaderboard struct {
	ID        string
	CreatedAt time.Time
	Entries   json.RawMessage
	Meta      json.RawMessage
}

// ModelScore is one point of a model's score history (table model_scores):
// the score envelope (sdk.ScoreEnvelope JSON) computed at ComputedAt.
type ModelScore struct {
	ID         string
	ModelID    string
	Score      json.RawMessage
	ComputedAt time.Time
}

// ModelScoreStat aggregates one model's predictions whose resolvable_at
// lies in [From, To]: Count, Sum, Mean and Min of its answered predictions
// (SUCCESS with a successful, non-null score), and NonAnswers, the
// predictions it was expected to make and did not make validly (status
// FAILED, TIMEOUT, CRASHED, ABSENT or BAD_IMPLEMENTATION, or SUCCESS scored
// without success or value; sdk.IsNonAnswer is the same rule). UNRESOLVED
// and not yet scored predictions count in neither.
//
// Sum does not depend on the order the rows are read in, so two models with
// the same scores get the same Sum and Mean (issue 13: ties share), and a
// window's stats are the same computed alone or with other windows
// (ModelScoreStatsWindows): SQLite gives the exact sum of the scores rounded
// once (ExactSum); PostgreSQL sums them in numeric, each converted by its
// float8-to-numeric cast (15 significant digits), and rounds that to float8.
type ModelScoreStat struct {
	ModelID    string
	Count      int
	Sum        float64
	Mean       float64 // 0 when Count is 0
	Min        float64 // 0 when Count is 0
	NonAnswers int
}

// NewModelScoreStat returns the ModelScoreStat of a model with count
// answered predictions adding up to sum, the smallest low (ignored when
// count is 0), and nonAnswers non-answers: Mean is sum/count, Mean and Min
// are 0 when count is 0.
func NewModelScoreStat(modelID string, count int, sum, low float64, nonAnswers int) ModelScoreStat {
	st := ModelScoreStat{ModelID: modelID, Count: count, Sum: sum, NonAnswers: nonAnswers}
	if count > 0 {
		st.Mean, st.Min = sum/float64(count), low
	}
	return st
}

// MaxStatsWindows is the most windows one ModelScoreStatsWindows call
// takes (each adds four aggregates to PostgreSQL's query, a band to
// SQLite's).
const MaxStatsWindows = 16

// CheckStatsWindows checks the window starts of a ModelScoreStatsWindows
// call: 1 to MaxStatsWindows of them, else ErrInvalidValue.
func CheckStatsWindows(froms []time.Time) error {
	if len(froms) == 0 || len(froms) > MaxStatsWindows {
		return invalid("ModelScoreStatsWindows froms", "expected 1 to %d window starts, found %d", MaxStatsWindows, len(froms))
	}
	return nil
}

// MarketRecord is one feed record (table market_records). For candles
// TsEvent is the open time.
type MarketRecord struct {
	Provider    string
	Asset       string
	Kind        string // "tick" or "candle"
	Granularity string // e.g. "1m"
	TsEvent     time.Time
	TsIngested  time.Time
	Values      json.RawMessage
	Meta        json.RawMessage
}

// MarketQuery filters market records; empty strings and zero times mean no
// filter. Bounds are inclusive. Limit 0 means 1000. IngestedBy keeps only
// the records stored (ts_ingested) at or before it: the feed as the node
// held it then (a replay's view at its simulated time, when it stores the
// candles of a block ahead).
type MarketQuery struct {
	Provider, Asset, Kind, Granularity string
	Start, End                         time.Time
	Limit                              int
	Descending                         bool // newest first
	IngestedBy                         time.Time
}

// FeedSummary is one row of /reports/feeds.
type FeedSummary struct {
	Provider, Asset, Kind, Granularity string
	RecordCount                        int64
	OldestTs, NewestTs                 time.Time
	WatermarkTs                        *time.Time
	WatermarkUpdatedAt                 *time.Time
}

// IngestionState is the watermark of one feed (table market_ingestion_state).
type IngestionState struct {
	Provider, Asset, Kind, Granularity string
	LastEventTs                        *time.Time
	UpdatedAt                          time.Time
	Meta                               json.RawMessage
}

// Checkpoint is one checkpoint row; Emission holds the emission checkpoint
// payload (the ranked leaderboard snapshot) written with it.
type Checkpoint struct {
	ID              string
	Kind            string
	IntervalSeconds int
	LastRunAt       *time.Time
	NextRunAt       *time.Time
	Meta            json.RawMessage
	Emission        *EmissionCheckpoint
}

// EmissionCheckpoint is one emission_checkpoints row.
type EmissionCheckpoint struct {
	ID           string
	CheckpointID string
	EmittedAt    time.Time
	Payload      json.RawMessage
}

// PredictionQuery filters predictions for the report API. ModelIDs empty =
// all models. [From, To] bounds performed_at (inclusive). Limit 0 = 1000.
type PredictionQuery struct {
	ModelIDs   []string
	From, To   time.Time
	ScoredOnly bool
	Status     string
	Limit      int
	Offset     int
	// WithoutInput leaves InferenceInput nil (InputID is still set), for
	// readers that never look at it, such as the report charts: the
	// inputs are then not read at all.
	WithoutInput bool
}

// SampleQuery asks for one chart's predictions over a whole window
// [From, To] (performed_at, inclusive, both required). The span from the
// oldest matching prediction (first, >= From) to To is cut into Buckets
// equal time slices (bucket i holds first + i*w <= performed_at < first +
// (i+1)*w with w = ceil((To - first) / Buckets) in microseconds; the last
// one also holds To), and each series (model_id, scope_key) keeps its
// newest prediction of every bucket, so the newest prediction of the
// window is always included and a window longer than the data does not
// spend the budget on empty time.
// ModelIDs empty = all models; Status empty = all statuses. Buckets must be
// 1 to MaxSampleBuckets.
//
// MaxPoints, when > 0, bounds the whole answer: with n series having a
// matching row in [first, To], each keeps at most max(1, MaxPoints / n)
// buckets (ForSeries), so every such series is in the answer and the
// answer has at most max(MaxPoints, n) rows.
//
// The same rule samples the score history (SampleModelScores), whose
// series are the models and whose time is computed_at.
//
// Width, when > 0, fixes the grid instead: bucket i is From + i*Width <= t
// < From + (i+1)*Width for i in [0, Buckets), the last one holding every t
// up to To; neither the oldest row nor MaxPoints moves it (the report
// API's chart caches choose their own grid, aligned on whole Widths, so
// that requests with different ends share buckets).
type SampleQuery struct {
	ModelIDs  []string
	From, To  time.Time
	Status    string
	Buckets   int
	MaxPoints int
	Width     time.Duration
}

// MaxSampleBuckets bounds SampleQuery.Buckets.
const MaxSampleBuckets = 10_000

// Models stores participant models.
type Models interface {
	// UpsertModels inserts or updates models by id (name, deployment and
	// player fields; CreatedAt kept on update).
	UpsertModels(ctx context.Context, models []Model) error
	// ListModels returns every model ordered by id.
	ListModels(ctx context.Context) ([]Model, error)
}

// Schedules stores scheduled prediction configs.
type Schedules interface {
	// ReplaceSchedules seeds the schedule rows in one transaction: rows
	// with the given ids are upserted, others are deactivated (never deleted,
	// so predictions keep their foreign key).
	ReplaceSchedules(ctx context.Context, rows []ScheduleRow) error
	// ListSchedules returns all rows (activeOnly: active ones) by order, id.
	ListSchedules(ctx context.Context, activeOnly bool) ([]ScheduleRow, error)
}

// Predictions stores predictions and their scores.
type Predictions interface {
	// SavePredictCycle writes one predict cycle in one transaction: upsert
	// the models, then insert the predictions if absent. It returns how many
	// predictions were new. On error nothing is written.
	SavePredictCycle(ctx context.Context, models []Model, predictions []Prediction) (inserted int, err error)
	// ClaimAndScore claims up to limit SUCCESS predictions with
	// resolvable_at <= now and no score, oldest resolvable_at first (FOR
	// UPDATE SKIP LOCKED on PostgreSQL), calls fn with them and writes its
	// updates in the same transaction. Two concurrent callers never get the
	// same prediction. The claimed predictions carry their InputID but no
	// InferenceInput (nil, unless a row stored before table inputs holds it
	// inline): scoring never reads the input (sdk.Challenge.
	// ResolveGroundTruth), and reading it was most of a claim's cost.
	// Returns the number of predictions claimed.
	ClaimAndScore(ctx context.Context, now time.Time, limit int, fn func(ctx context.Context, claimed []Prediction) ([]ScoreUpdate, error)) (claimed int, err error)
	// ListPredictions returns predictions matching q ordered by performed_at
	// ascending, then id.
	ListPredictions(ctx context.Context, q PredictionQuery) ([]Prediction, error)
	// WindowPredictions returns one model's predictions that count in an
	// aggregation window (scored ones and non-answers, see ModelScoreStat)
	// with resolvable_at in [from, to], ordered by resolvable_at, at most
	// limit.
	WindowPredictions(ctx context.Context, modelID string, from, to time.Time, limit int) ([]Prediction, error)
	// ModelScoreStats aggregates answered and non-answered predictions per
	// model (ModelScoreStat) over resolvable_at in [from, to], ordered by
	// model id. Models with neither are absent from the result.
	ModelScoreStats(ctx context.Context, from, to time.Time) ([]ModelScoreStat, error)
	// ModelScoreStatsWindows is ModelScoreStats over several windows that
	// share their end, read in one scan of the widest (the leaderboard's
	// nested windows): element i is exactly ModelScoreStats(froms[i], to).
	// 1 to MaxStatsWindows windows, else ErrInvalidValue.
	ModelScoreStatsWindows(ctx context.Context, froms []time.Time, to time.Time) ([][]ModelScoreStat, error)
	// LatestPerformedAt returns the newest performed_at of the schedule's
	// predictions (zero time and ErrNotFound when none), used to put due
	// times on a grid that survives restarts.
	LatestPerformedAt(ctx context.Context, configID string) (time.Time, error)
	// CountPredictions counts predictions by status (all statuses when
	// status is empty).
	CountPredictions(ctx context.Context, status string) (int64, error)
	// SamplePredictions returns the predictions SampleQuery keeps, ordered
	// by performed_at then id, with InferenceInput, InferenceOutput, Meta
	// and GroundTruth left nil (charts never read them, and the report
	// caches what this returns; InputID is set). The downsampling is done by the database:
	// one index seek per series and bucket, never a scan of the window.
	SamplePredictions(ctx context.Context, q SampleQuery) ([]Prediction, error)
	// SampleModelScores returns the score points (table model_scores)
	// SampleQuery keeps, the series being the models (Status must be
	// empty): per model, the newest point (computed_at, then id) of every
	// bucket, ordered by computed_at then model id. The downsampling is
	// done by the database, one index seek per model and bucket.
	SampleModelScores(ctx context.Context, q SampleQuery) ([]ModelScore, error)
	// SampleStart returns the time of the oldest row SampleQuery q's
	// window holds (ok false when none): of the predictions (performed_at,
	// with q.Status) for kind ChartPredictions, of the score points
	// (computed_at) for ChartModelScores. One index seek per series. An
	// unknown kind, or a Status with ChartModelScores, is refused with
	// ErrInvalidValue.
	SampleStart(ctx context.Context, kind string, q SampleQuery) (first time.Time, ok bool, err error)
	// CountInputs counts the stored inference inputs (table inputs): one
	// per distinct input, however many predictions share it.
	CountInputs(ctx context.Context) (int64, error)
	// ScoreRollups returns the score rollups (ScoreRollup, maintained in
	// the transactions that score predictions) matching q, ordered by
	// model_id, scope_key, bucket end. An invalid q is refused with
	// ErrInvalidValue.
	ScoreRollups(ctx context.Context, q RollupQuery) ([]ScoreRollup, error)
	// RollupPoints returns the chart points of the score rollups that q
	// selects (RollupPointQuery, the rule RollupPointsOf computes), ordered
	// by LastPerformedAt, then model_id and scope_key; the windows and the
	// downsampling are computed by the database.
	RollupPoints(ctx context.Context, q RollupPointQuery) ([]RollupPoint, error)
	// ChartRevisions returns the chart revisions q selects (ChartRevision:
	// per kind, series and day, incremented by every transaction that
	// writes that chart data), ordered by CompareChartRevisions. An
	// invalid q is refused with ErrInvalidValue.
	ChartRevisions(ctx context.Context, q ChartRevisionQuery) ([]ChartRevision, error)
}

// Leaderboards stores leaderboard snapshots and model score history.
type Leaderboards interface {
	// SaveLeaderboard stores a snapshot and the per-model score points of
	// the same rebuild in one transaction.
	SaveLeaderboard(ctx context.Context, lb Leaderboard, scores []ModelScore) error
	// LatestLeaderboard returns the newest snapshot or ErrNotFound.
	LatestLeaderboard(ctx context.Context) (Leaderboard, error)
	// ModelScoreHistory returns score points of the given models (all when
	// empty) with computed_at in [from, to], ordered by computed_at then
	// model id, at most limit (0 = 1000).
	ModelScoreHistory(ctx context.Context, modelIDs []string, from, to time.Time, limit int) ([]ModelScore, error)
}

// Market stores feed records and ingestion watermarks.
type Market interface {
	// UpsertMarketRecords upserts by (provider, asset, kind, granularity,
	// ts_event) and advances each feed's watermark; returns rows written.
	UpsertMarketRecords(ctx context.Context, records []MarketRecord) (int, error)
	// QueryMarketRecords returns records matching q.
	QueryMarketRecords(ctx context.Context, q MarketQuery) ([]MarketRecord, error)
	// FeedSummaries returns one summary per feed ordered by provider,
	// asset, kind, granularity.
	FeedSummaries(ctx context.Context) ([]FeedSummary, error)
	// IngestionStates returns every watermark.
	IngestionStates(ctx context.Context) ([]IngestionState, error)
}

// Checkpoints stores checkpoints and emission checkpoints.
type Checkpoints interface {
	// SaveCheckpoint writes the checkpoint and its emission in one transaction.
	SaveCheckpoint(ctx context.Context, c Checkpoint) error
	// LatestCheckpoint returns the newest checkpoint of kind or ErrNotFound.
	LatestCheckpoint(ctx context.Context, kind string) (Checkpoint, error)
	// ListCheckpoints returns the newest limit checkpoints of kind, newest first.
	ListCheckpoints(ctx context.Context, kind string, limit int) ([]Checkpoint, error)
}

// Store is the whole contract.
type Store interface {
	Models
	Schedules
	Predictions
	Leaderboards
	Market
	Checkpoints

	// Migrate applies pending migrations (idempotent).
	Migrate(ctx context.Context) error
	// SchemaVersion returns the applied schema version (0 = none) and the
	// version this binary expects.
	SchemaVersion(ctx context.Context) (current, expected int64, err error)
	// WithLeaderLock runs fn only if this process holds the named lock
	// (PostgreSQL advisory lock; in-process mutex for SQLite). ran is false
	// when another holder has it.
	WithLeaderLock(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
	// Ping checks the connection.
	Ping(ctx context.Context) error
	// Backend returns "postgres" or "sqlite".
	Backend() string
	// Close releases the connections.
	Close() error
}
