package report

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// healthz serves GET /healthz: 200 {"status": "ok", ...} when the database
// answers, 503 {"status": "unavailable", "error": "database unavailable"} when it
// does not (the driver's error, which may name the host, port, user or
// database, goes to the log only).
// Detail: backend ("sqlite" or "postgres"), schema_version (of the report
// schema), time (now), predictions (total count, or null if counting
// failed), models_known / models_running (supervisor view), feeds
// (configured feeds with live health), feeds_stale (any stale) and
// stale_feeds (["provider/asset/kind/granularity", ...]).
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.ctx(r)
	defer cancel()
	body := map[string]any{
		"status":         "ok",
		"backend":        s.opts.Store.Backend(),
		"schema_version": s.schemaVersion(),
		"time":           ts(s.opts.Clock.Now()),
	}
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.Warn("health check: database ping failed", "error", err)
		body["status"] = "unavailable"
		body["error"] = "database unavailable" // where it is: the log only
		writeJSON(w, http.StatusServiceUnavailable, body)
		return nil
	}
	// The count scans the predictions table: load it at most once per
	// cache TTL, so frequent health probes cost a ping.
	n, err := s.predCount.get(ctx, s.opts.QueryTimeout, func(ctx context.Context) (int64, error) {
		return s.opts.Store.CountPredictions(ctx, "")
	})
	if err == nil {
		body["predictions"] = n
	} else {
		s.log.Warn("health check: counting predictions failed", "error", err)
		body["predictions"] = nil
	}
	running := 0
	states := s.modelStates()
	for _, st := range states {
		if st.Running && !st.Stopped {
			running++
		}
	}
	body["models_known"] = len(states)
	body["models_running"] = running
	stale := []string{}
	feeds := 0
	if s.opts.FeedHealth != nil {
		for _, h := range s.opts.FeedHealth() {
			feeds++
			if h.Stale {
				stale = append(stale, h.Provider+"/"+h.Asset+"/"+h.Kind+"/"+h.Granularity)
			}
		}
	}
	body["feeds"] = feeds
	body["feeds_stale"] = len(stale) > 0
	body["stale_feeds"] = stale
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *server) schemaVersion() string {
	if v := s.opts.Schema.SchemaVersion; v != "" {
		return v
	}
	return "1"
}

// servedSchema is the schema as served: schema_version defaulted to "1",
// nil lists as [], MODEL columns as PROJECT unless KeepModelColumnType.
func (s *server) servedSchema() sdk.ReportSchema {
	sc := sdk.ReportSchema{
		SchemaVersion:      s.schemaVersion(),
		LeaderboardColumns: make([]sdk.LeaderboardColumn, 0, len(s.opts.Schema.LeaderboardColumns)),
		MetricsWidgets:     make([]sdk.MetricsWidget, 0, len(s.opts.Schema.MetricsWidgets)),
	}
	for _, c := range s.opts.Schema.LeaderboardColumns {
		if c.Type == sdk.ColumnModel && !s.opts.KeepModelColumnType {
			c.Type = sdk.ColumnProject
		}
		c.NativeConfiguration = nullIfEmpty(c.NativeConfiguration)
		sc.LeaderboardColumns = append(sc.LeaderboardColumns, c)
	}
	for _, wd := range s.opts.Schema.MetricsWidgets {
		wd.NativeConfiguration = nullIfEmpty(wd.NativeConfiguration)
		sc.MetricsWidgets = append(sc.MetricsWidgets, wd)
	}
	return sc
}

// nullIfEmpty turns an empty raw message (which would not encode) into null.
func nullIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// schema serves GET /reports/schema: the report schema object (8.5).
func (s *server) schema(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.servedSchema())
	return nil
}

// schemaColumns serves GET /reports/schema/leaderboard-columns: the array of
// leaderboard columns.
func (s *server) schemaColumns(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.servedSchema().LeaderboardColumns)
	return nil
}

// schemaWidgets serves GET /reports/schema/metrics-widgets: the array of
// metric widgets.
func (s *server) schemaWidgets(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.servedSchema().MetricsWidgets)
	return nil
}
