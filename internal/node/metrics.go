package node

import (
	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/metrics"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// newMetrics builds the node's metrics: the model series of
// config/models.json and the feed staleness read from the store.
func (n *Node) newMetrics() *metrics.Metrics {
	ids := make([]string, 0, len(n.cfg.Workspace.Models))
	for _, m := range n.cfg.Workspace.Models {
		ids = append(ids, m.ID)
	}
	return metrics.New(metrics.Options{Clock: n.cfg.Clock, Feeds: n.cfg.Store.FeedSummaries, Models: ids})
}

// observePredict is the predict worker's Observe hook.
func (n *Node) observePredict(res predict.Result, preds []store.Prediction, err error) {
	outcome := ""
	switch {
	case err != nil:
		outcome = "failed"
	case res.SkipReason != "":
		outcome = "skipped"
	case preds != nil:
		outcome = "stored"
	}
	t := res.Timing
	n.metrics.PredictCycle(outcome, metrics.PredictTiming{
		BuildInput: t.RawInput + t.InferenceInput, Tick: t.Tick, CallModels: t.Predict,
		Validate: t.Validate, Store: t.Persist, Total: t.Total,
	}, preds)
}

// observeScore is the score worker's Observe hook.
func (n *Node) observeScore(res score.ScoreResult, err error) {
	n.metrics.ScoreCycle(res.Elapsed, res.OldestWaiting, err)
}

// hostEvents chains the node's own observers of the plugin host's events
// (metrics) before cfg.HostEvents.
func (n *Node) hostEvents() func(host.Event) {
	next := n.cfg.HostEvents
	return func(e host.Event) {
		n.metrics.HostEvent(e)
		if next != nil {
			next(e)
		}
	}
}

// Metrics returns the node's metrics (served at GET /metrics with
// RoleReport).
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }
