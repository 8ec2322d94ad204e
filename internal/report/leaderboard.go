package report

import (
	"bytes"
	"context"
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

// lbEntry is one parsed leaderboard entry. The parts of its row that do
// not depend on the stored models or the supervisor are encoded once, when
// the leaderboard is parsed.
type lbEntry struct {
	modelID                 string
	rank                    int // 0 = none
	modelName, cruncherName string
	score                   looseScore
	// scoreKeys is the encoded run of every row key starting with "score_"
	// (score_metrics, score_payload, score_ranking and the flattened
	// metrics), in key order, without braces: `"score_a":1,"score_b":{...}`.
	scoreKeys []byte
}

// lbCache keeps the parsed entries of the last leaderboard served: the
// latest leaderboard only changes at each rebuild, so most refreshes skip
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
	var enc jsonEncoder
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
		if ent.scoreKeys, err = encodeScoreKeys(&enc, ent.score); err != nil {
			return nil, fmt.Errorf("leaderboard %s entry %d (model %q): encoding its score: %w", lb.ID, i, ent.modelID, err)
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

// lbFixedKeys are the leaderboard row keys a flattened metric never
// replaces (reference defect 14.5 #37).
var lbFixedKeys = map[string]bool{
	"created_at": true, "model_id": true, "model_name": true, "cruncher_name": true, "username": true,
	"rank": true, "ranked_models": true, "scores_exist": true, "score_metrics": true, "score_ranking": true, "score_payload": true, "status": true, "active": true,
}

// encodeScoreKeys encodes the "score_" keys of a leaderboard row in key
// order: score_metrics, score_ranking and score_payload (the score
// envelope's parts) merged with one metricKey per metric, resolved like
// flattenMetrics (fixed keys win, then the metric whose name sorts first).
// metricKey always starts with "score_", so these keys form one contiguous
// run of the sorted row keys (between "rank" and "status").
func encodeScoreKeys(enc *jsonEncoder, sc looseScore) ([]byte, error) {
	type kv struct {
		key string
		val any
	}
	kvs := []kv{{"score_metrics", sc.Metrics}, {"score_payload", sc.Payload}, {"score_ranking", sc.Ranking}}
	names := make([]string, 0, len(sc.Metrics))
	for k := range sc.Metrics {
		names = append(names, k)
	}
	slices.Sort(names)
	taken := map[string]bool{}
	for _, name := range names {
		k := metricKey(name)
		if lbFixedKeys[k] || taken[k] {
			continue
		}
		taken[k] = true
		kvs = append(kvs, kv{k, sc.Metrics[name]})
	}
	slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	var out []byte
	for i, e := range kvs {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, e.key)
		out = append(out, ':')
		var err error
		if out, err = enc.append(out, e.val); err != nil {
			return nil, fmt.Errorf("key %s: %w", e.key, err)
		}
	}
	return out, nil
}

// encodeLeaderboard encodes the /reports/leaderboard answer for entries
// joined with idx: a JSON array of rows with their keys in sorted order
// (what encoding/json produced for the former map rows, byte for byte),
// and a final newline.
func encodeLeaderboard(entries []lbEntry, created time.Time, idx map[string]modelInfo, sum lbSummary) []byte {
	createdJSON := []byte("null")
	if !created.IsZero() {
		createdJSON = appendJSONString(nil, created.UTC().Format(TimeLayout))
	}
	size := 3
	for _, e := range entries {
		size += 256 + len(e.scoreKeys) + 2*len(e.modelID)
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i, e := range entries {
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
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"active":`...)
		out = strconv.AppendBool(out, info.active)
		out = append(out, `,"created_at":`...)
		out = append(out, createdJSON...)
		out = append(out, `,"cruncher_name":`...)
		out = appendJSONString(out, cruncher)
		out = append(out, `,"model_id":`...)
		out = appendJSONString(out, e.modelID)
		out = append(out, `,"model_name":`...)
		out = appendJSONString(out, name)
		out = append(out, `,"rank":`...)
		if e.rank > 0 {
			out = strconv.AppendInt(out, int64(e.rank), 10)
		} else {
			out = append(out, "null"...)
		}
		out = append(out, `,"ranked_models":`...)
		out = strconv.AppendInt(out, int64(sum.ranked), 10)
		out = append(out, ',')
		out = append(out, e.scoreKeys...)
		out = append(out, `,"scores_exist":`...)
		out = strconv.AppendBool(out, sum.scoresExist)
		out = append(out, `,"status":`...)
		out = appendJSONString(out, status)
		out = append(out, `,"username":`...)
		out = appendJSONString(out, cruncher)
		out = append(out, '}')
	}
	return append(out, ']', '\n')
}

// leaderboard serves GET /reports/leaderboard: the rows of the latest
// leaderboard sorted by rank (entries without a rank last, in stored
// order); [] when no leaderboard exists yet. Row keys: created_at, model_id,
// model_name, cruncher_name, username (= cruncher_name), rank (integer,
// shared by tied models, or null for a model without a score in the
// ranking window), ranked_models (how many rows have a rank), scores_exist
// (whether any model has a score yet), score_metrics, score_ranking,
// score_payload, status ("active" when the model plugin runs, else the
// /reports/models status), active, then one score_<metric> key per metric
// (never replacing those keys). The answer is a top-level array (the
// report UI needs one), so the two counts are also sent as the headers
// X-Ranked-Models and X-Scores-Exist, which hold even when the array is
// empty. Names missing from an entry come from the stored models.
//
// The encoded answer is shared by all requests for Options.CacheTTL: a new
// leaderboard, renamed models or a changed model status show up within
// that time. No request reads predictions.
func (s *server) leaderboard(w http.ResponseWriter, r *http.Request) error {
	ans, err := s.lbBody.get(r.Context(), s.opts.QueryTimeout, s.loadLeaderboard)
	if err != nil {
		return err
	}
	w.Header().Set("X-Ranked-Models", strconv.Itoa(ans.sum.ranked))
	w.Header().Set("X-Scores-Exist", strconv.FormatBool(ans.sum.scoresExist))
	writeBody(w, http.StatusOK, ans.body)
	return nil
}

// lbSummary is what the leaderboard answer says about itself.
type lbSummary struct {
	ranked      int  // rows with a rank
	scoresExist bool // any model has a score
}

// lbAnswer is the cached /reports/leaderboard answer.
type lbAnswer struct {
	body []byte
	sum  lbSummary
}

// summarise counts the ranked entries; scores exist when the leaderboard's
// meta says a model was scored (scored_models > 0) or, for a leaderboard
// stored without that key, when any entry has a rank.
func summarise(lb store.Leaderboard, entries []lbEntry) lbSummary {
	var sum lbSummary
	for _, e := range entries {
		if e.rank > 0 {
			sum.ranked++
		}
	}
	var meta struct {
		ScoredModels *int `json:"scored_models"`
	}
	if json.Unmarshal(lb.Meta, &meta) == nil && meta.ScoredModels != nil {
		sum.scoresExist = *meta.ScoredModels > 0
	} else {
		sum.scoresExist = sum.ranked > 0
	}
	return sum
}

// loadLeaderboard reads the latest leaderboard, the stored models and the
// supervisor states and encodes the /reports/leaderboard answer.
func (s *server) loadLeaderboard(ctx context.Context) (lbAnswer, error) {
	lb, err := s.opts.Store.LatestLeaderboard(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return lbAnswer{body: []byte("[]\n")}, nil
	}
	if err != nil {
		return lbAnswer{}, fmt.Errorf("reading the latest leaderboard: %w", err)
	}
	entries, err := s.parseLeaderboard(lb)
	if err != nil {
		return lbAnswer{}, err
	}
	idx, err := s.modelIndex(ctx)
	if err != nil {
		return lbAnswer{}, err
	}
	sum := summarise(lb, entries)
	return lbAnswer{body: encodeLeaderboard(entries, lb.CreatedAt, idx, sum), sum: sum}, nil
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
