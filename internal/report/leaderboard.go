package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// looseScore is a score envelope read tolerantly for display: metric values
// that are not numbers become null, unknown keys are ignored.
type looseScore struct {
	Metrics map[string]any
	Ranking map[string]any
	Payload map[string]any
}

// decodeScore reads a score envelope (sdk.ScoreEnvelope JSON). Absent or
// null parts become empty objects.
func decodeScore(raw json.RawMessage) (looseScore, error) {
	out := looseScore{Metrics: map[string]any{}, Ranking: map[string]any{}, Payload: map[string]any{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var env struct {
		Metrics map[string]json.RawMessage `json:"metrics"`
		Ranking map[string]any             `json:"ranking"`
		Payload json.RawMessage            `json:"payload"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return out, fmt.Errorf("score envelope: expected an object with metrics, ranking and payload: %w", err)
	}
	for k, v := range env.Metrics {
		out.Metrics[k] = metricValue(v)
	}
	for k, v := range env.Ranking {
		if v != nil {
			out.Ranking[k] = v
		}
	}
	if p := bytes.TrimSpace(env.Payload); len(p) > 0 && string(p) != "null" {
		var obj map[string]any
		if err := json.Unmarshal(p, &obj); err == nil && obj != nil {
			out.Payload = obj
		}
	}
	return out, nil
}

// metricValue converts a metric to a float64 or nil (null, non-numeric,
// non-finite). Numeric strings are converted like the reference does.
func metricValue(raw json.RawMessage) any {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return nil
		}
		f = p
	case bool:
		if x {
			f = 1
		}
	default:
		return nil
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// metricKey is the flat row key of a metric: "score_<name>", or the name
// itself when it already starts with "score_" (window names like
// score_recent).
func metricKey(name string) string {
	if strings.HasPrefix(name, "score_") {
		return name
	}
	return "score_" + name
}

// flattenMetrics adds one metricKey per metric to row without ever
// replacing a key already set (the fixed keys; reference defect 14.5 #37).
// Metrics are visited in name order so a collision between two metrics
// ("x" and "score_x") is resolved the same way every time.
func flattenMetrics(row map[string]any, metrics map[string]any) {
	names := make([]string, 0, len(metrics))
	for k := range metrics {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		k := metricKey(name)
		if _, taken := row[k]; !taken {
			row[k] = metrics[name]
		}
	}
}

// lbEntry is one parsed leaderboard entry.
type lbEntry struct {
	modelID                 string
	rank                    int // 0 = none
	modelName, cruncherName string
	score                   looseScore
}

// lbCache keeps the parsed entries of the last leaderboard served: the
// latest leaderboard only changes at each rebuild, so most requests skip
// decoding. The parsed values are never modified after parsing.
type lbCache struct {
	mu      sync.Mutex
	id      string
	created time.Time
	entries []lbEntry
}

// parseLeaderboard decodes lb's entries, skipping (and logging) null,
// malformed and id-less entries, sorted by rank (entries without a valid
// rank last, in stored order).
func (s *server) parseLeaderboard(lb store.Leaderboard) ([]lbEntry, error) {
	s.lb.mu.Lock()
	if s.lb.id == lb.ID && s.lb.created.Equal(lb.CreatedAt) && s.lb.entries != nil {
		out := s.lb.entries
		s.lb.mu.Unlock()
		return out, nil
	}
	s.lb.mu.Unlock()
	var raws []json.RawMessage
	if raw := bytes.TrimSpace(lb.Entries); len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &raws); err != nil {
			return nil, fmt.Errorf("leaderboard %s entries: expected a JSON array: %w", lb.ID, err)
		}
	}
	out := make([]lbEntry, 0, len(raws))
	for i, raw := range raws {
		var e struct {
			ModelID      json.RawMessage `json:"model_id"`
			Score        json.RawMessage `json:"score"`
			Rank         *float64        `json:"rank"`
			ModelName    *string         `json:"model_name"`
			CruncherName *string         `json:"cruncher_name"`
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
			s.log.Warn("skipping null leaderboard entry", "leaderboard_id", lb.ID, "index", i)
			continue
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			s.log.Warn("skipping malformed leaderboard entry", "leaderboard_id", lb.ID, "index", i, "error", err)
			continue
		}
		ent := lbEntry{modelID: jsonID(e.ModelID)}
		if ent.modelID == "" {
			s.log.Warn("skipping leaderboard entry without model_id", "leaderboard_id", lb.ID, "index", i)
			continue
		}
		var err error
		if ent.score, err = decodeScore(e.Score); err != nil {
			s.log.Warn("leaderboard entry has a malformed score; serving it empty", "leaderboard_id", lb.ID, "model_id", ent.modelID, "error", err)
		}
		if e.ModelName != nil {
			ent.modelName = *e.ModelName
		}
		if e.CruncherName != nil {
			ent.cruncherName = *e.CruncherName
		}
		if e.Rank != nil && *e.Rank >= 1 && *e.Rank <= math.MaxInt32 && *e.Rank == math.Trunc(*e.Rank) {
			ent.rank = int(*e.Rank)
		}
		out = append(out, ent)
	}
	slices.SortStableFunc(out, func(a, b lbEntry) int {
		switch {
		case a.rank == b.rank:
			return 0
		case a.rank == 0:
			return 1
		case b.rank == 0:
			return -1
		}
		return a.rank - b.rank
	})
	s.lb.mu.Lock()
	s.lb.id, s.lb.created, s.lb.entries = lb.ID, lb.CreatedAt, out
	s.lb.mu.Unlock()
	return out, nil
}

// leaderboard serves GET /reports/leaderboard: the rows of the latest
// leaderboard sorted by rank (entries without a rank last, in stored
// order); [] when no leaderboard exists yet. Row keys: created_at, model_id,
// model_name, cruncher_name, username (= cruncher_name), rank (integer or
// null), score_metrics, score_ranking, score_payload, status ("active"
// when the model plugin runs, else the /reports/models status), active,
// then one score_<metric> key per metric (never replacing those keys).
// Names missing from an entry come from the stored models.
func (s *server) leaderboard(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.ctx(r)
	defer cancel()
	lb, err := s.opts.Store.LatestLeaderboard(ctx)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusOK, []any{})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the latest leaderboard: %w", err)
	}
	entries, err := s.parseLeaderboard(lb)
	if err != nil {
		return err
	}
	idx, err := s.modelIndex(r)
	if err != nil {
		return err
	}
	created := ts(lb.CreatedAt)
	rows := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		info, known := idx[e.modelID]
		name, cruncher := info.name, info.cruncher
		if e.modelName != "" {
			name = e.modelName
		}
		if e.cruncherName != "" {
			cruncher = e.cruncherName
		}
		status := ModelUnknown
		if known {
			status = info.status
		}
		if info.active {
			status = "active"
		}
		row := make(map[string]any, 12+len(e.score.Metrics))
		row["created_at"] = created
		row["model_id"] = e.modelID
		row["model_name"] = name
		row["cruncher_name"] = cruncher
		row["username"] = cruncher
		row["rank"] = nil
		if e.rank > 0 {
			row["rank"] = e.rank
		}
		row["score_metrics"] = e.score.Metrics
		row["score_ranking"] = e.score.Ranking
		row["score_payload"] = e.score.Payload
		row["status"] = status
		row["active"] = info.active
		flattenMetrics(row, e.score.Metrics)
		rows = append(rows, row)
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

// jsonID reads an id given as a JSON string or number ("" when neither).
func jsonID(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
