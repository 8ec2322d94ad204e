package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/crunch-coordinator/coordinator/internal/jsonx"
)

// This file is the one place the storage contract's value rules live. Every
// write method of a driver first normalises its rows with the functions
// below and then only binds the returned values; no driver checks a value
// itself.

// DefaultLimit is the row limit of a query whose Limit is 0.
const DefaultLimit = 1000

// Defaults stored for empty JSON values: objects for every JSON column
// except Leaderboard.Entries, an array.
var (
	emptyObject = json.RawMessage(`{}`)
	emptyArray  = json.RawMessage(`[]`)
)

// invalid returns an error wrapping ErrInvalidValue: "<field>: <msg>".
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidValue)
}

// now is the time a zero timestamp defaults to: UTC, at the storage
// precision (microseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func checkRequired(field, v string) error {
	if v == "" {
		return invalid(field, `expected a non-empty value, found ""`)
	}
	return nil
}

func checkFinite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(field, "expected a finite number, found %v", v)
	}
	return nil
}

func checkInt32(field string, v, lo int) error {
	if v < lo || v > math.MaxInt32 {
		return invalid(field, "expected an integer in %d..%d, found %d", lo, math.MaxInt32, v)
	}
	return nil
}

// CheckJSON checks one JSON value bound for a JSON column and returns the
// value to store: def when raw is empty or white space, else raw itself
// (never re-encoded, so big integers and number spellings are kept
// exactly). Refused with ErrInvalidValue naming field: text that is not
// JSON (which includes the NaN and Infinity tokens), a number that
// overflows float64 to ±Inf (such as 1e999), and the escape \u0000 in a
// string (PostgreSQL's jsonb cannot hold it).
func CheckJSON(field string, raw json.RawMessage, def json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return def, nil
	}
	if !json.Valid(raw) {
		return nil, invalid(field, "expected valid JSON (NaN and Infinity are not JSON), found %q", jsonx.Abbreviate(raw))
	}
	if tok, why := unstorable(raw); tok != nil {
		return nil, invalid(field, "%s, found %s", why, jsonx.Abbreviate(tok))
	}
	return raw, nil
}

// unstorable scans valid JSON for a token no backend can store: a number
// whose float64 value is ±Inf, or a \u0000 escape. It returns the token and
// what was expected, or nil.
func unstorable(b []byte) ([]byte, string) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] != '\\' {
					continue
				}
				i++
				if i < len(b) && b[i] == 'u' && i+4 < len(b) && string(b[i+1:i+5]) == "0000" {
					return b[i-1 : i+5], `expected no \u0000 escape in a string`
				}
			}
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			exp := false
			for j < len(b) {
				d := b[j]
				if d == 'e' || d == 'E' {
					exp = true
				} else if !(d >= '0' && d <= '9') && d != '.' && d != '-' && d != '+' {
					break
				}
				j++
			}
			num := b[i:j]
			// Without an exponent only a literal of more than 308 digits
			// can overflow.
			if exp || len(num) > 300 {
				if f, _ := strconv.ParseFloat(string(num), 64); math.IsInf(f, 0) {
					return num, "expected a number within float64 range"
				}
			}
			i = j - 1
		}
	}
	return nil, ""
}

// jsonMemo remembers raw JSON values already checked within one batch, by
// backing array and length: the predictions of one predict cycle share one
// inference input (kilobytes), which is then scanned once instead of once
// per model. A nil jsonMemo remembers nothing.
type jsonMemo map[jsonKey]json.RawMessage

type jsonKey struct {
	p *byte
	n int
}

func (m jsonMemo) check(field string, raw, def json.RawMessage) (json.RawMessage, error) {
	if m == nil || len(raw) == 0 {
		return CheckJSON(field, raw, def)
	}
	k := jsonKey{unsafe.SliceData(raw), len(raw)}
	if v, ok := m[k]; ok {
		return v, nil
	}
	v, err := CheckJSON(field, raw, def)
	if err == nil {
		m[k] = v
	}
	return v, err
}

// inputID returns InputID(input), hashing a shared input once per batch.
func (m jsonMemo) inputID(input json.RawMessage) string {
	if m == nil || len(input) == 0 {
		return InputID(input)
	}
	k := jsonKey{unsafe.SliceData(input), -len(input)} // negative length: the id, not the checked value
	if v, ok := m[k]; ok {
		return string(v)
	}
	id := InputID(input)
	m[k] = json.RawMessage(id)
	return id
}

// Normalize checks q: From and To set with To not before From, Buckets in
// 1..MaxSampleBuckets, else ErrInvalidValue; times become UTC. BucketWidth
// is the width of one bucket in microseconds (store precision), at least 1.
func (q SampleQuery) Normalize() (SampleQuery, error) {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return q, invalid("SampleQuery.From/To", "expected both bounds, found from %v to %v", q.From, q.To)
	case q.To.Before(q.From):
		return q, invalid("SampleQuery.To", "expected a time not before From %s, found %s", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	case q.Buckets < 1 || q.Buckets > MaxSampleBuckets:
		return q, invalid("SampleQuery.Buckets", "expected 1 to %d, found %d", MaxSampleBuckets, q.Buckets)
	case q.MaxPoints < 0:
		return q, invalid("SampleQuery.MaxPoints", "expected >= 0, found %d", q.MaxPoints)
	case q.Width < 0 || (q.Width > 0 && q.Width < time.Microsecond):
		return q, invalid("SampleQuery.Width", "expected 0 or at least 1µs, found %s", q.Width)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	return q, nil
}

// StartAt returns q with From moved to first, the performed_at of the
// oldest prediction matching q (see SampleQuery); first before From is
// ignored.
func (q SampleQuery) StartAt(first time.Time) SampleQuery {
	if first.After(q.From) {
		q.From = first.UTC()
	}
	return q
}

// BucketWidth returns the width of one bucket of a normalised q in
// microseconds (Width when set), at least 1: bucket of a time t is min((t - From) / width,
// Buckets - 1) in integer microseconds.
func (q SampleQuery) BucketWidth() int64 {
	if q.Width > 0 {
		return q.Width.Microseconds()
	}
	span := q.To.Sub(q.From).Microseconds()
	return max(1, (span+int64(q.Buckets)-1)/int64(q.Buckets))
}

// CheckLimit returns the effective row limit of a query: DefaultLimit for
// 0, limit itself when positive; a negative limit is refused with
// ErrInvalidValue naming field.
func CheckLimit(field string, limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, invalid(field, "expected >= 0, found %d", limit)
	case limit == 0:
		return DefaultLimit, nil
	}
	return limit, nil
}

// CheckLockName refuses an empty leader lock name with ErrInvalidValue.
func CheckLockName(name string) error { return checkRequired("lock name", name) }

// Normalize checks m and returns it as stored: an empty ID or invalid Meta
// is refused with ErrInvalidValue; nil Meta stays nil (an upsert then keeps
// the stored meta, {} for a new model) and a non-nil empty Meta becomes {};
// zero CreatedAt/UpdatedAt become now; times are UTC.
func (m Model) Normalize(now time.Time) (Model, error) {
	if err := checkRequired("ID", m.ID); err != nil {
		return m, err
	}
	if m.Meta != nil {
		meta, err := CheckJSON("Meta", m.Meta, emptyObject)
		if err != nil {
			return m, err
		}
		m.Meta = meta
	}
	m.CreatedAt, m.UpdatedAt = orNow(m.CreatedAt, now), orNow(m.UpdatedAt, now)
	return m, nil
}

// NormalizeModels normalises every model (see Model.Normalize); the error
// names the first invalid one as "models[i] (<id>).<field>".
func NormalizeModels(models []Model) ([]Model, error) {
	out := make([]Model, len(models))
	ts := now()
	for i, m := range models {
		n, err := m.Normalize(ts)
		if err != nil {
			return nil, fmt.Errorf("models[%d] (%s).%w", i, m.ID, err)
		}
		out[i] = n
	}
	return out, nil
}

// Normalize checks r and returns it as stored: an empty ID, invalid JSON
// or an Order outside the 32-bit range is refused with ErrInvalidValue;
// empty ScopeTemplate, Schedule and Meta become {}.
func (r ScheduleRow) Normalize() (ScheduleRow, error) {
	if err := checkRequired("ID", r.ID); err != nil {
		return r, err
	}
	var err error
	if r.ScopeTemplate, err = CheckJSON("ScopeTemplate", r.ScopeTemplate, emptyObject); err != nil {
		return r, err
	}
	if r.Schedule, err = CheckJSON("Schedule", r.Schedule, emptyObject); err != nil {
		return r, err
	}
	if r.Meta, err = CheckJSON("Meta", r.Meta, emptyObject); err != nil {
		return r, err
	}
	if err := checkInt32("Order", r.Order, math.MinInt32); err != nil {
		return r, err
	}
	return r, nil
}

// NormalizeSchedules normalises every row (see ScheduleRow.Normalize); the
// error names the first invalid one as "schedules[i] (<id>).<field>".
func NormalizeSchedules(rows []ScheduleRow) ([]ScheduleRow, error) {
	out := make([]ScheduleRow, len(rows))
	for i, r := range rows {
		n, err := r.Normalize()
		if err != nil {
			return nil, fmt.Errorf("schedules[%d] (%s).%w", i, r.ID, err)
		}
		out[i] = n
	}
	return out, nil
}

// Normalize checks p and returns it as stored: an empty ID, ModelID or
// Status, a NaN or ±Inf ExecTimeMs or Score.Value, or invalid JSON is
// refused with ErrInvalidValue; empty JSON values become {}; InputID is
// set to InputID(InferenceInput) (a caller's value is replaced); a zero
// PerformedAt becomes now and a zero ResolvableAt PerformedAt (reference
// 3.3); a zero Score.ScoredAt becomes now; times are UTC.
func (p Prediction) Normalize(now time.Time) (Prediction, error) { return p.normalize(now, nil) }

func (p Prediction) normalize(now time.Time, memo jsonMemo) (Prediction, error) {
	for _, f := range []struct{ name, v string }{{"ID", p.ID}, {"ModelID", p.ModelID}, {"Status", p.Status}} {
		if err := checkRequired(f.name, f.v); err != nil {
			return p, err
		}
	}
	if err := checkFinite("ExecTimeMs", p.ExecTimeMs); err != nil {
		return p, err
	}
	var err error
	if p.Scope, err = memo.check("Scope", p.Scope, emptyObject); err != nil {
		return p, err
	}
	if p.InferenceInput, err = memo.check("InferenceInput", p.InferenceInput, emptyObject); err != nil {
		return p, err
	}
	p.InputID = memo.inputID(p.InferenceInput)
	if p.InferenceOutput, err = memo.check("InferenceOutput", p.InferenceOutput, emptyObject); err != nil {
		return p, err
	}
	if p.Meta, err = memo.check("Meta", p.Meta, emptyObject); err != nil {
		return p, err
	}
	if len(p.GroundTruth) > 0 {
		return p, invalid("GroundTruth", "expected none (ground truth is recorded by ClaimAndScore), found %s", jsonx.Abbreviate(p.GroundTruth))
	}
	p.PerformedAt = orNow(p.PerformedAt, now)
	p.ResolvableAt = orNow(p.ResolvableAt, p.PerformedAt)
	if p.Score != nil {
		sc := *p.Score
		if sc.Value != nil {
			if err := checkFinite("Score.Value", *sc.Value); err != nil {
				return p, err
			}
			v := *sc.Value
			sc.Value = &v
		}
		sc.ScoredAt = orNow(sc.ScoredAt, now)
		p.Score = &sc
	}
	return p, nil
}

// NormalizePredictions normalises every prediction (see
// Prediction.Normalize), checking a JSON value shared by several
// predictions once; the error names the first invalid one as
// "predictions[i] (<id>).<field>".
func NormalizePredictions(preds []Prediction) ([]Prediction, error) {
	out := make([]Prediction, len(preds))
	ts := now()
	memo := jsonMemo{}
	for i := range preds {
		n, err := preds[i].normalize(ts, memo)
		if err != nil {
			return nil, fmt.Errorf("predictions[%d] (%s).%w", i, preds[i].ID, err)
		}
		out[i] = n
	}
	return out, nil
}

// CheckClaim checks the arguments of ClaimAndScore: limit > 0 and a
// non-nil score function, else ErrInvalidValue.
func CheckClaim(limit int, fn func(ctx context.Context, claimed []Prediction) ([]ScoreUpdate, error)) error {
	if limit <= 0 {
		return invalid("limit", "expected > 0, found %d", limit)
	}
	if fn == nil {
		return invalid("fn", "expected a scoring function, found nil")
	}
	return nil
}

// NormalizeScoreUpdates checks the score function's updates against the
// claimed predictions and returns them as stored. Each update must name a
// claimed prediction, at most once, and carry a Score (its Value finite) or
// a terminal Status; otherwise ErrInvalidValue naming "updates[i]
// (<prediction id>)". In the returned updates a Score's zero ScoredAt is
// at (UTC) and an empty FailedReason is the update's Reason.
func NormalizeScoreUpdates(claimed []Prediction, updates []ScoreUpdate, at time.Time) ([]ScoreUpdate, error) {
	// state: 1 = claimed, 2 = claimed and already updated in this call.
	state := make(map[string]uint8, len(claimed))
	for _, p := range claimed {
		state[p.ID] = 1
	}
	at = at.UTC()
	out := make([]ScoreUpdate, len(updates))
	scores := make([]Score, len(updates)) // one backing array, no allocation per update
	for i, u := range updates {
		field := fmt.Sprintf("updates[%d] (%s)", i, u.PredictionID)
		switch state[u.PredictionID] {
		case 0:
			return nil, invalid(field, "expected the id of a prediction claimed in this call, found one that was not")
		case 2:
			return nil, invalid(field, "expected one update per prediction, found a second one")
		}
		state[u.PredictionID] = 2
		switch {
		case u.Score != nil:
			sc := *u.Score
			if sc.Value != nil {
				if err := checkFinite(field+".Score.Value", *sc.Value); err != nil {
					return nil, err
				}
			}
			if sc.FailedReason == "" {
				sc.FailedReason = u.Reason
			}
			sc.ScoredAt = orNow(sc.ScoredAt, at)
			scores[i] = sc
			u.Score = &scores[i]
		case u.Status == "":
			return nil, invalid(field, "expected a Score or a terminal Status, found neither")
		}
		if len(u.GroundTruth) > 0 {
			gt, err := CheckJSON(field+".GroundTruth", u.GroundTruth, nil)
			if err != nil {
				return nil, err
			}
			if err := jsonx.CheckObject(gt); err != nil {
				return nil, invalid(field+".GroundTruth", "%v", err)
			}
			u.GroundTruth = gt
		}
		out[i] = u
	}
	return out, nil
}

// Normalize checks q and returns it with its effective Limit
// (DefaultLimit for 0): a negative Limit or Offset is refused with
// ErrInvalidValue; bounds are UTC.
func (q PredictionQuery) Normalize() (PredictionQuery, error) {
	var err error
	if q.Limit, err = CheckLimit("PredictionQuery.Limit", q.Limit); err != nil {
		return q, err
	}
	if q.Offset < 0 {
		return q, invalid("PredictionQuery.Offset", "expected >= 0, found %d", q.Offset)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	return q, nil
}

// Normalize checks r and returns it as stored: an empty Provider, Asset,
// Kind or Granularity, a zero TsEvent or invalid JSON is refused with
// ErrInvalidValue; empty Values and Meta become {}; a zero TsIngested
// becomes now; times are UTC.
func (r MarketRecord) Normalize(now time.Time) (MarketRecord, error) {
	for _, f := range []struct{ name, v string }{{"Provider", r.Provider}, {"Asset", r.Asset}, {"Kind", r.Kind}, {"Granularity", r.Granularity}} {
		if err := checkRequired(f.name, f.v); err != nil {
			return r, err
		}
	}
	if r.TsEvent.IsZero() {
		return r, invalid("TsEvent", "expected an event time, found zero")
	}
	var err error
	if r.Values, err = CheckJSON("Values", r.Values, emptyObject); err != nil {
		return r, err
	}
	if r.Meta, err = CheckJSON("Meta", r.Meta, emptyObject); err != nil {
		return r, err
	}
	r.TsEvent, r.TsIngested = r.TsEvent.UTC(), orNow(r.TsIngested, now)
	return r, nil
}

// NormalizeMarketRecords normalises every record (see
// MarketRecord.Normalize); the error names the first invalid one as
// "records[i].<field>".
func NormalizeMarketRecords(records []MarketRecord) ([]MarketRecord, error) {
	out := make([]MarketRecord, len(records))
	ts := now()
	for i, r := range records {
		n, err := r.Normalize(ts)
		if err != nil {
			return nil, fmt.Errorf("records[%d].%w", i, err)
		}
		out[i] = n
	}
	return out, nil
}

// Normalize checks q and returns it with its effective Limit (DefaultLimit
// for 0; negative refused with ErrInvalidValue) and UTC bounds.
func (q MarketQuery) Normalize() (MarketQuery, error) {
	var err error
	if q.Limit, err = CheckLimit("MarketQuery.Limit", q.Limit); err != nil {
		return q, err
	}
	q.Start, q.End, q.IngestedBy = q.Start.UTC(), q.End.UTC(), q.IngestedBy.UTC()
	return q, nil
}

// NormalizeLeaderboard checks a leaderboard snapshot and the score points
// of the same rebuild and returns them as stored: an empty lb.ID, score ID
// or ModelID, or invalid JSON is refused with ErrInvalidValue; nil Entries
// become [], nil Meta and Score {}; a zero CreatedAt becomes now and a zero
// ComputedAt the leaderboard's CreatedAt; times are UTC.
func NormalizeLeaderboard(lb Leaderboard, scores []ModelScore) (Leaderboard, []ModelScore, error) {
	if err := checkRequired("Leaderboard.ID", lb.ID); err != nil {
		return lb, nil, err
	}
	var err error
	if lb.Entries, err = CheckJSON("Leaderboard ("+lb.ID+").Entries", lb.Entries, emptyArray); err != nil {
		return lb, nil, err
	}
	if lb.Meta, err = CheckJSON("Leaderboard ("+lb.ID+").Meta", lb.Meta, emptyObject); err != nil {
		return lb, nil, err
	}
	lb.CreatedAt = orNow(lb.CreatedAt, now())
	out := make([]ModelScore, len(scores))
	for i, sc := range scores {
		field := fmt.Sprintf("scores[%d] (%s)", i, sc.ID)
		if err := checkRequired(field+".ID", sc.ID); err != nil {
			return lb, nil, err
		}
		if err := checkRequired(field+".ModelID", sc.ModelID); err != nil {
			return lb, nil, err
		}
		if sc.Score, err = CheckJSON(field+".Score", sc.Score, emptyObject); err != nil {
			return lb, nil, err
		}
		sc.ComputedAt = orNow(sc.ComputedAt, lb.CreatedAt)
		out[i] = sc
	}
	return lb, out, nil
}

// Normalize checks c and returns it as stored: an empty ID or Kind, an
// IntervalSeconds outside 0..2^31-1, or invalid JSON is refused with
// ErrInvalidValue; empty Meta becomes {}. An Emission needs an ID; its
// empty CheckpointID becomes c.ID and any other value is refused; its zero
// EmittedAt becomes now and empty Payload {}. Times are UTC.
func (c Checkpoint) Normalize(now time.Time) (Checkpoint, error) {
	if err := checkRequired("Checkpoint.ID", c.ID); err != nil {
		return c, err
	}
	field := "Checkpoint (" + c.ID + ")"
	if err := checkRequired(field+".Kind", c.Kind); err != nil {
		return c, err
	}
	if err := checkInt32(field+".IntervalSeconds", c.IntervalSeconds, 0); err != nil {
		return c, err
	}
	var err error
	if c.Meta, err = CheckJSON(field+".Meta", c.Meta, emptyObject); err != nil {
		return c, err
	}
	c.LastRunAt, c.NextRunAt = utcPtr(c.LastRunAt), utcPtr(c.NextRunAt)
	if c.Emission != nil {
		e := *c.Emission
		if err := checkRequired(field+".Emission.ID", e.ID); err != nil {
			return c, err
		}
		if e.CheckpointID == "" {
			e.CheckpointID = c.ID
		}
		if e.CheckpointID != c.ID {
			return c, invalid(field+".Emission.CheckpointID", "expected %q, found %q", c.ID, e.CheckpointID)
		}
		if e.Payload, err = CheckJSON(field+".Emission.Payload", e.Payload, emptyObject); err != nil {
			return c, err
		}
		e.EmittedAt = orNow(e.EmittedAt, now)
		c.Emission = &e
	}
	return c, nil
}
