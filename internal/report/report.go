// Package report serves the read-only JSON report API that the report UI
// (crunchdao/coordinator-webapp, see report-ui-contract.md) and operators
// read: the report schema, models, leaderboard, chart time series,
// predictions, feeds and checkpoints.
//
// Guarantees every endpoint keeps (report-ui-contract.md section 5):
//   - list endpoints answer a top-level JSON array, never null and never
//     with null elements;
//   - every timestamp the API produces is RFC 3339 in UTC with a "Z" suffix
//     and millisecond precision ("2026-11-30T08:01:45.123Z"), the form
//     JavaScript's Date.toISOString produces (challenge- or feed-supplied
//     JSON passed through unchanged, such as score_payload, feed values and
//     meta, is not rewritten);
//   - chart endpoints answer flat rows (one per model per point in time);
//   - errors are JSON: {"error": "...", "detail": [{"param": ..., "problem": ...}]}
//     with 400 (bad query parameter), 404 (unknown path), 405 (not GET),
//     503 (database unavailable or not migrated) or 500.
//
// Common query parameters of the chart and prediction endpoints
// (/reports/models/global, /reports/models/params, /reports/predictions):
//   - projectIds: model ids, comma-separated and/or repeated; parts are
//     trimmed, empty parts dropped, duplicates removed. An empty list means
//     all models.
//   - start, end: ISO-8601 / RFC 3339 with optional fractional seconds and
//     "Z" or an offset (a naive time is read as UTC; a "+" turned into a
//     space by form decoding is restored), a plain date, or epoch seconds.
//     Defaults: end = now, start = end - 24 h. end before start, or a range
//     longer than Options.MaxRange, is a 400.
//
// The API is read-only, needs no authentication and allows any origin
// (Access-Control-Allow-Origin: *), since the UI may run on another port.
package report

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Defaults applied by New to zero-valued Options fields.
const (
	// DefaultMaxPageSize is the largest page (rows per store call and the
	// largest accepted limit on /reports/predictions).
	DefaultMaxPageSize = 1000
	// DefaultMaxRange is the longest accepted start..end range.
	DefaultMaxRange = 31 * 24 * time.Hour
	// DefaultRange is the range used when start is absent (start = end - 24 h).
	DefaultRange = 24 * time.Hour
	// DefaultMaxSeriesPoints bounds the points of one chart series (one
	// model, or one model and scope); longer series are thinned evenly,
	// always keeping the first and the last point.
	DefaultMaxSeriesPoints = 1000
	// DefaultMaxChartPoints bounds the rows of one chart answer
	// (/reports/models/global, /reports/models/params, /reports/predictions;
	// Options.MaxChartPoints): each of its n series gets at most
	// max(1, DefaultMaxChartPoints / n) points (and at most
	// MaxSeriesPoints), so an answer stays small enough to be read,
	// encoded and drawn quickly whatever the number of models (the real
	// UI asks for every model: 20 models get 50 points each, 30 days in
	// 15-hour steps; one model gets 1000).
	DefaultMaxChartPoints = 1000
	// DefaultChartCacheSize is the default Options.ChartCacheSize: 131,072
	// score rollups (about 20 MB), 147 series of 37 days (the UI's 30-day
	// window and the 7-day windows before it).
	DefaultChartCacheSize = 1 << 17
	// DefaultQueryTimeout is the deadline of the store calls of one request.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultCheckpointKind is the checkpoint kind /reports/checkpoints lists
	// when the request names none.
	DefaultCheckpointKind = "emission"
)

// Store is the subset of store.Store the report API reads. Both
// internal/store implementations satisfy it.
type Store interface {
	ListModels(ctx context.Context) ([]store.Model, error)
	LatestLeaderboard(ctx context.Context) (store.Leaderboard, error)
	ModelScoreHistory(ctx context.Context, modelIDs []string, from, to time.Time, limit int) ([]store.ModelScore, error)
	ListPredictions(ctx context.Context, q store.PredictionQuery) ([]store.Prediction, error)
	SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error)
	ScoreRollups(ctx context.Context, q store.RollupQuery) ([]store.ScoreRollup, error)
	SampleModelScores(ctx context.Context, q store.SampleQuery) ([]store.ModelScore, error)
	SampleStart(ctx context.Context, kind string, q store.SampleQuery) (time.Time, bool, error)
	RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error)
	ChartRevisions(ctx context.Context, q store.ChartRevisionQuery) ([]store.ChartRevision, error)
	CountPredictions(ctx context.Context, status string) (int64, error)
	FeedSummaries(ctx context.Context) ([]store.FeedSummary, error)
	QueryMarketRecords(ctx context.Context, q store.MarketQuery) ([]store.MarketRecord, error)
	ListCheckpoints(ctx context.Context, kind string, limit int) ([]store.Checkpoint, error)
	Ping(ctx context.Context) error
	Backend() string
}

// FeedHealth is the live state of one configured feed (provider, asset) as
// the feed worker sees it. LastEventAt is the event time (UTC) of the newest
// record received; zero when none yet. LastError is the last poll error
// ("" = none). The counters count since the worker started.
type FeedHealth struct {
	Provider    string
	Asset       string
	Kind        string
	Granularity string
	Stale       bool
	LastError   string
	LastEventAt time.Time
	// LastErrorAt is when LastError happened (zero: no error).
	LastErrorAt time.Time
	// ConsecutiveErrors counts failed polls of this feed since its last
	// success; NextAttemptAt is when it is polled next (its own backoff).
	ConsecutiveErrors int
	NextAttemptAt     time.Time
	// Gaps counts runs of missing candles seen while polling.
	Gaps int
	// Rows dropped alone: unreadable or invalid (Malformed), conflicting
	// duplicates (Conflicts), prices older than FEED_MAX_AGE_SECONDS
	// (StalePrices); rows noticed: exact duplicates collapsed (Duplicates),
	// zero-volume placeholder candles stored (Placeholders).
	Malformed, Conflicts, StalePrices, Duplicates, Placeholders int64
	// LastDropReason and LastDropRow describe the latest row dropped
	// ("" = none); the row is bounded by the feed worker.
	LastDropReason, LastDropRow string
}

// Window is one rolling-mean window of /reports/models/params: the row key
// (e.g. "score_recent") and its length.
type Window struct {
	Name   string
	Length time.Duration
}

// DefaultWindows are the runtime's default aggregation windows
// (reference-system.md 8.6): recent 24 h, steady 72 h, anchor 7 days.
var DefaultWindows = []Window{
	{Name: "score_recent", Length: 24 * time.Hour},
	{Name: "score_steady", Length: 72 * time.Hour},
	{Name: "score_anchor", Length: 7 * 24 * time.Hour},
}

// Options configures the report API. Store is required; every other field
// has a default.
type Options struct {
	// Store is read by every data endpoint. Required.
	Store Store
	// Schema is the validated report schema of the challenge, served by
	// /reports/schema. Nil lists are served as []. A column of type MODEL
	// is served as PROJECT (what the current UI knows) unless
	// KeepModelColumnType is set.
	Schema sdk.ReportSchema
	// KeepModelColumnType serves MODEL columns unchanged, for UI versions
	// before 2026-03-18.
	KeepModelColumnType bool
	// FeedHealth returns the live feed states (nil: none known).
	FeedHealth func() []FeedHealth
	// ModelStates returns the supervisor's view of the model plugins (nil:
	// none known; model status is then "unknown").
	ModelStates func() []host.ModelState
	// Clock gives "now" for default ranges and staleness (default clock.Wall).
	Clock clock.Clock
	// Logger receives the debug request log and store errors (default: null).
	Logger hclog.Logger
	// MaxPageSize: default DefaultMaxPageSize.
	MaxPageSize int
	// MaxRange: default DefaultMaxRange.
	MaxRange time.Duration
	// MaxSeriesPoints: default DefaultMaxSeriesPoints.
	MaxSeriesPoints int
	// MaxChartPoints: default DefaultMaxChartPoints.
	MaxChartPoints int
	// QueryTimeout: default DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Windows are the rolling windows of /reports/models/params (default
	// DefaultWindows).
	Windows []Window
	// CheckpointKind: default DefaultCheckpointKind.
	CheckpointKind string
	// CacheTTL is how long the encoded /reports/leaderboard and
	// /reports/models answers and the stored model list (joined by the
	// chart and prediction endpoints) are reused before being read again:
	// a new leaderboard, a renamed model or a changed model status shows up
	// within this time (wall time). Default DefaultCacheTTL; negative
	// disables the caching (every request reads the store).
	CacheTTL time.Duration
	// ChartCacheSize bounds the score rollups the /reports/models/params
	// cache holds (rollupCache: per series and day, reused while the
	// day's store.ChartRevision is unchanged, so never stale); a request
	// needing more is answered from the store alone (RollupPoints).
	// Default DefaultChartCacheSize; negative disables the cache.
	ChartCacheSize int
	// FeedStaleAfter is the minimum staleness bound used when a feed has no
	// FeedHealth entry: a feed is stale when its watermark is older than
	// max(FeedStaleAfter, 6 x granularity) (default 120 s, the UI's rule).
	FeedStaleAfter time.Duration
}

type server struct {
	opts Options
	log  hclog.Logger
	lb   lbCache

	lbBody     ttlCache[lbAnswer]            // encoded /reports/leaderboard answer
	modelsBody ttlCache[[]byte]              // encoded /reports/models answer
	modelList  ttlCache[[]store.Model]       // stored models
	predCount  ttlCache[int64]               // prediction count shown by /healthz
	charts     coalescer                     // the chart endpoints' identical concurrent requests
	rollups    rollupCache                   // score rollups of /reports/models/params by series and day
	predSample sampleCache[store.Prediction] // /reports/predictions' chart buckets
	msSample   sampleCache[store.ModelScore] // /reports/models/global's chart buckets
	// Encoded chart rows of each chart endpoint (content keyed).
	predRows, globalRows, paramRows rowCache
}

// New returns the report API handler (GET and HEAD only). It panics if
// opts.Store is nil, a programming error.
func New(opts Options) http.Handler {
	return newServer(opts).handler()
}

// newServer applies the defaults of opts and returns the server.
func newServer(opts Options) *server {
	if opts.Store == nil {
		panic("report.New: Options.Store is nil")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Wall{}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = DefaultMaxPageSize
	}
	if opts.MaxRange <= 0 {
		opts.MaxRange = DefaultMaxRange
	}
	if opts.MaxSeriesPoints <= 0 {
		opts.MaxSeriesPoints = DefaultMaxSeriesPoints
	}
	if opts.MaxChartPoints <= 0 {
		opts.MaxChartPoints = DefaultMaxChartPoints
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if len(opts.Windows) == 0 {
		opts.Windows = DefaultWindows
	}
	if opts.CheckpointKind == "" {
		opts.CheckpointKind = DefaultCheckpointKind
	}
	if opts.FeedStaleAfter <= 0 {
		opts.FeedStaleAfter = 120 * time.Second
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.ChartCacheSize == 0 {
		opts.ChartCacheSize = DefaultChartCacheSize
	}
	s := &server{opts: opts, log: opts.Logger.Named("report")}
	s.rollups.max = opts.ChartCacheSize
	s.predRows.max, s.globalRows.max, s.paramRows.max = defaultRowCacheRows, defaultRowCacheRows, defaultRowCacheRows
	s.predSample = sampleCache[store.Prediction]{disabled: opts.ChartCacheSize < 0, src: sampleSource[store.Prediction]{
		kind:   store.ChartPredictions,
		at:     func(p store.Prediction) time.Time { return p.PerformedAt },
		sample: opts.Store.SamplePredictions,
	}}
	s.msSample = sampleCache[store.ModelScore]{disabled: opts.ChartCacheSize < 0, src: sampleSource[store.ModelScore]{
		kind:   store.ChartModelScores,
		at:     func(ms store.ModelScore) time.Time { return ms.ComputedAt },
		sample: opts.Store.SampleModelScores,
	}}
	s.lbBody.ttl, s.modelsBody.ttl, s.modelList.ttl, s.predCount.ttl = opts.CacheTTL, opts.CacheTTL, opts.CacheTTL, opts.CacheTTL
	return s
}

// handler routes the endpoints of s.
func (s *server) handler() http.Handler {

	routes := []struct {
		path string
		h    func(w http.ResponseWriter, r *http.Request) error
		// coalesce: identical requests waiting together share one
		// computation started after they arrived (coalescer).
		coalesce bool
	}{
		{"/healthz", s.healthz, false},
		{"/reports/schema", s.schema, false},
		{"/reports/schema/leaderboard-columns", s.schemaColumns, false},
		{"/reports/schema/metrics-widgets", s.schemaWidgets, false},
		{"/reports/models", s.models, false},
		{"/reports/leaderboard", s.leaderboard, false},
		{"/reports/models/global", s.modelsGlobal, true},
		{"/reports/models/params", s.modelsParams, true},
		{"/reports/predictions", s.predictions, true},
		{"/reports/feeds", s.feeds, false},
		{"/reports/feeds/tail", s.feedsTail, false},
		{"/reports/checkpoints", s.checkpoints, false},
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		h := rt.h
		var serve http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				s.writeErr(w, r, err)
			}
		})
		if rt.coalesce {
			inner := serve
			serve = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.charts.serve(w, r, inner) })
		}
		mux.Handle("GET "+rt.path, serve)
		// Same path, any other method: the GET pattern is more specific, so
		// this only sees non-GET requests.
		mux.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{
				Error:  fmt.Sprintf("method %s not allowed on %s: the report API is read-only (GET)", r.Method, r.URL.Path),
				Detail: []problem{},
			})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{
			Error:  fmt.Sprintf("no report endpoint at %s", r.URL.Path),
			Detail: []problem{},
		})
	})
	return s.middleware(mux)
}

// statusRecorder remembers the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// middleware adds CORS headers, answers CORS preflights, recovers panics as
// 500 JSON and logs each request at debug level.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "X-Next-Offset, X-Downsampled-From, X-Truncated, X-Point-Budget")
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("report handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeJSON(rec, http.StatusInternalServerError, errorBody{Error: "internal error", Detail: []problem{}})
			}
			if s.log.IsDebug() {
				s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
					"status", rec.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
			}
		}()
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "*")
			h.Set("Access-Control-Max-Age", "600")
			rec.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// ctx returns the request context bounded by the query timeout.
func (s *server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.QueryTimeout)
}
