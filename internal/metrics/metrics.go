// Package metrics is the node's Prometheus instrumentation: one registry
// (never the process-wide default) with the collectors below, fed by the
// hooks the node already has (the predict worker's cycle result, the score
// worker's cycle result, the plugin host's lifecycle events) and by the
// store at scrape time (feed staleness). The node serves Handler at
// GET /metrics on the report API address.
//
// Families (all times in seconds):
//
//	coordinator_model_call_duration_seconds{model_id}          histogram of model call latency (exec_time_ms of every non-ABSENT prediction)
//	coordinator_model_predictions_total{model_id,status}       prediction rows built per model and status (SUCCESS, FAILED, TIMEOUT, CRASHED, BAD_IMPLEMENTATION, ABSENT)
//	coordinator_cycle_duration_seconds{stage}                  wall time of a cycle stage: build_input, tick, call_models, validate, store, predict_total, score
//	coordinator_predict_cycles_total{outcome}                  predict cycles by outcome: stored, skipped, failed
//	coordinator_score_cycles_total{outcome}                    score cycles by outcome: ok, failed
//	coordinator_scoring_lag_seconds                            clock time minus the resolvable_at of the oldest prediction the last score cycle left unscored (0: none)
//	coordinator_feed_staleness_seconds{provider,asset,kind,granularity}  clock time minus the newest stored record's event time, per feed
//	coordinator_plugin_restarts_total{plugin_id}               restarts scheduled by the plugin supervisor (a model id, or "challenge")
//
// plus the Go runtime and process collectors. Label values come from the
// operator's configuration (model ids of config/models.json or the
// orchestrator, feed names) and from this package's fixed sets, never from
// anything else a participant sends.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Statuses are the prediction statuses counted per model; every model of
// Options.Models starts with a zero series for each.
var Statuses = []string{
	store.StatusSuccess, store.StatusFailed, store.StatusTimeout,
	store.StatusCrashed, store.StatusBadImplementation, store.StatusAbsent,
}

// Cycle stages (label stage of coordinator_cycle_duration_seconds).
const (
	StageBuildInput   = "build_input" // ProvideRawInput + BuildInferenceInput
	StageTick         = "tick"        // the tick fan-out to every model
	StageCallModels   = "call_models" // scope and call builders plus the Predict fan-out, all due rows
	StageValidate     = "validate"    // output validation
	StageStore        = "store"       // the predict cycle's store transaction
	StagePredictTotal = "predict_total"
	StageScore        = "score" // one scoring cycle
)

// scrapeTimeout bounds the store query of a scrape (feed staleness).
const scrapeTimeout = 5 * time.Second

// Options configure New.
type Options struct {
	// Clock is the node's clock (simulated in a replay); required.
	Clock clock.Clock
	// Feeds, when set, is read at every scrape for feed staleness
	// (store.Store's FeedSummaries).
	Feeds func(ctx context.Context) ([]store.FeedSummary, error)
	// Models are the model ids known at start (config/models.json): their
	// series exist from the first scrape, at zero.
	Models []string
}

// Metrics owns the registry and the collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	clock clock.Clock
	reg   *prometheus.Registry

	calls       *prometheus.HistogramVec
	predictions *prometheus.CounterVec
	cycle       *prometheus.HistogramVec
	predictRuns *prometheus.CounterVec
	scoreRuns   *prometheus.CounterVec
	scoringLag  prometheus.Gauge
	restarts    *prometheus.CounterVec

	mu     sync.Mutex
	models map[string]*modelSeries
}

// modelSeries caches one model's children so a cycle looks them up once
// per model without building label slices.
type modelSeries struct {
	calls    prometheus.Observer
	byStatus map[string]prometheus.Counter
}

// New builds the registry and registers every collector.
func New(o Options) *Metrics {
	m := &Metrics{
		clock: o.Clock,
		reg:   prometheus.NewRegistry(),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coordinator_model_call_duration_seconds",
			Help:    "Latency of model Predict calls (the exec_time_ms stored with each non-ABSENT prediction).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms .. 16 s
		}, []string{"model_id"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coordinator_model_predictions_total",
			Help: "Prediction rows built per model and status in predict cycles that were stored.",
		}, []string{"model_id", "status"}),
		cycle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coordinator_cycle_duration_seconds",
			Help:    "Wall time of each stage of the predict cycle (build_input, tick, call_models, validate, store, predict_total) and of a scoring cycle (score).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 32 s
		}, []string{"stage"}),
		predictRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coordinator_predict_cycles_total",
			Help: "Predict cycles with due rows, by outcome: stored, skipped (stale feed, no model), failed.",
		}, []string{"outcome"}),
		scoreRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coordinator_score_cycles_total",
			Help: "Scoring cycles by outcome: ok, failed.",
		}, []string{"outcome"}),
		scoringLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coordinator_scoring_lag_seconds",
			Help: "Clock time minus the resolvable_at of the oldest resolvable prediction the last scoring cycle left unscored (0 when it left none).",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coordinator_plugin_restarts_total",
			Help: "Plugin restarts scheduled by the supervisor, by plugin id (a model id, or challenge).",
		}, []string{"plugin_id"}),
		models: map[string]*modelSeries{},
	}
	m.reg.MustRegister(m.calls, m.predictions, m.cycle, m.predictRuns, m.scoreRuns, m.scoringLag, m.restarts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Feeds != nil {
		m.reg.MustRegister(&feedCollector{clock: o.Clock, feeds: o.Feeds})
	}
	for _, s := range []string{StageBuildInput, StageTick, StageCallModels, StageValidate, StageStore, StagePredictTotal, StageScore} {
		m.cycle.WithLabelValues(s)
	}
	for _, s := range []string{"stored", "skipped", "failed"} {
		m.predictRuns.WithLabelValues(s)
	}
	m.scoreRuns.WithLabelValues("ok")
	m.scoreRuns.WithLabelValues("failed")
	for _, id := range o.Models {
		m.model(id)
		m.restarts.WithLabelValues(id)
	}
	m.restarts.WithLabelValues("challenge")
	return m
}

// Registry returns the registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails (the store unreachable for feed staleness) leaves
// its family out; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// model returns the cached series of a model id, creating them (with a
// zero counter per status) on first use. Callers hold no lock.
func (m *Metrics) model(id string) *modelSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.models[id]; ok {
		return s
	}
	s := &modelSeries{calls: m.calls.WithLabelValues(id), byStatus: make(map[string]prometheus.Counter, len(Statuses))}
	for _, st := range Statuses {
		s.byStatus[st] = m.predictions.WithLabelValues(id, st)
	}
	m.models[id] = s
	return s
}

// PredictCycle records one predict cycle. preds are the rows of a cycle
// that was stored (nil otherwise); t is its stage timing; outcome is
// "stored", "skipped" or "failed" ("" for a cycle with no due row, which
// is not counted).
func (m *Metrics) PredictCycle(outcome string, t PredictTiming, preds []store.Prediction) {
	if outcome == "" {
		return
	}
	m.predictRuns.WithLabelValues(outcome).Inc()
	if outcome != "stored" {
		return
	}
	m.cycle.WithLabelValues(StageBuildInput).Observe(t.BuildInput.Seconds())
	m.cycle.WithLabelValues(StageTick).Observe(t.Tick.Seconds())
	m.cycle.WithLabelValues(StageCallModels).Observe(t.CallModels.Seconds())
	m.cycle.WithLabelValues(StageValidate).Observe(t.Validate.Seconds())
	m.cycle.WithLabelValues(StageStore).Observe(t.Store.Seconds())
	m.cycle.WithLabelValues(StagePredictTotal).Observe(t.Total.Seconds())
	var last *modelSeries
	lastID := ""
	for i := range preds {
		p := &preds[i]
		if last == nil || p.ModelID != lastID {
			last, lastID = m.model(p.ModelID), p.ModelID
		}
		c, ok := last.byStatus[p.Status]
		if !ok { // a status outside Statuses is counted as FAILED, as statusOf stores it
			c = last.byStatus[store.StatusFailed]
		}
		c.Inc()
		if p.Status != store.StatusAbsent {
			last.calls.Observe(p.ExecTimeMs / 1000)
		}
	}
}

// PredictTiming is the stage timing of a stored predict cycle.
type PredictTiming struct {
	BuildInput, Tick, CallModels, Validate, Store, Total time.Duration
}

// ScoreCycle records one scoring cycle: its wall time, its outcome and,
// after a cycle without error, the scoring lag from oldestWaiting (the
// resolvable_at of the oldest prediction it left unscored; zero: none).
func (m *Metrics) ScoreCycle(elapsed time.Duration, oldestWaiting time.Time, err error) {
	m.cycle.WithLabelValues(StageScore).Observe(elapsed.Seconds())
	if err != nil {
		m.scoreRuns.WithLabelValues("failed").Inc()
		return
	}
	m.scoreRuns.WithLabelValues("ok").Inc()
	lag := 0.0
	if !oldestWaiting.IsZero() {
		lag = max(0, m.clock.Now().Sub(oldestWaiting).Seconds())
	}
	m.scoringLag.Set(lag)
}

// HostEvent counts the supervisor's restarts (host.Options.OnEvent).
func (m *Metrics) HostEvent(e host.Event) {
	if e.Kind == host.EventRestart {
		m.restarts.WithLabelValues(e.PluginID).Inc()
	}
}

// feedCollector reads the stored feeds at scrape time.
type feedCollector struct {
	clock clock.Clock
	feeds func(ctx context.Context) ([]store.FeedSummary, error)
}

var feedStalenessDesc = prometheus.NewDesc("coordinator_feed_staleness_seconds",
	"Clock time minus the event time of the newest stored record of each feed.",
	[]string{"provider", "asset", "kind", "granularity"}, nil)

func (c *feedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- feedStalenessDesc }

func (c *feedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	sums, err := c.feeds(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(feedStalenessDesc, err)
		return
	}
	now := c.clock.Now()
	for _, s := range sums {
		if s.NewestTs.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(feedStalenessDesc, prometheus.GaugeValue, now.Sub(s.NewestTs).Seconds(),
			s.Provider, s.Asset, s.Kind, s.Granularity)
	}
}
