package store

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// PredictionID is the deterministic id of the prediction of one model for
// one schedule slot: "PRE_<slot as YYYYMMDDTHHMMSSZ>_<first 16 hex of
// SHA-256(configID|modelID|slot RFC 3339)>". The same inputs always give the
// same id, so a retried cycle inserts nothing new (reference defect 14.2 #19).
func PredictionID(configID, modelID string, slot time.Time) string {
	slot = slot.UTC()
	h := sha256.Sum256([]byte(configID + "|" + modelID + "|" + slot.Format(time.RFC3339Nano)))
	return "PRE_" + slot.Format("20060102T150405Z") + "_" + hex.EncodeToString(h[:8])
}

// MarketRecordID is the lowercase hex SHA-1 of
// "<provider>|<asset>|<kind>|<granularity>|<ts_event YYYY-MM-DDTHH:MM:SS+00:00>"
// (reference-system.md 5.1), so ingestion is idempotent. As in the
// reference (Python isoformat), a ts_event with a sub-second part gets
// ".ffffff" (microseconds) before the offset, so records of one feed within
// the same second keep distinct ids.
func MarketRecordID(provider, asset, kind, granularity string, tsEvent time.Time) string {
	tsEvent = tsEvent.UTC().Truncate(time.Microsecond)
	layout := "2006-01-02T15:04:05+00:00"
	if tsEvent.Nanosecond() != 0 {
		layout = "2006-01-02T15:04:05.000000+00:00"
	}
	h := sha1.Sum([]byte(provider + "|" + asset + "|" + kind + "|" + granularity + "|" + tsEvent.Format(layout)))
	return hex.EncodeToString(h[:])
}

// InputID is the content id of a stored inference input: "INP_" and the
// first 32 hex digits (128 bits) of the SHA-256 of its JSON text as stored
// (after Prediction.Normalize). Equal texts share one row of table inputs.
func InputID(input []byte) string {
	h := sha256.Sum256(input)
	return "INP_" + hex.EncodeToString(h[:16])
}

// Input is one row of table inputs: an inference input stored once for
// every prediction that references it (Prediction.InputID).
type Input struct {
	ID    string
	Input json.RawMessage
	// Stream is "<prediction config id>|<scope key>" of the first
	// prediction that carried it: the inputs of one stream are successive
	// windows over the same data, so inputcodec stores each as a delta of
	// the stream's previous one.
	Stream string
	// CreatedAt is the PerformedAt of the first prediction of the batch
	// that carried it.
	CreatedAt time.Time
}

// PredictionInputs returns the distinct inputs of predictions normalised
// by NormalizePredictions, in first-seen order: what a driver writes to
// table inputs (insert if absent) before the predictions that reference
// them.
func PredictionInputs(preds []Prediction) []Input {
	var out []Input
	seen := map[string]bool{}
	for i := range preds {
		p := &preds[i]
		if p.InputID == "" || seen[p.InputID] {
			continue
		}
		seen[p.InputID] = true
		out = append(out, Input{ID: p.InputID, Input: p.InferenceInput, Stream: p.PredictionConfigID + "|" + p.ScopeKey, CreatedAt: p.PerformedAt})
	}
	return out
}

// AttachInputs sets the InferenceInput of every prediction that references
// a stored input (InputID non-empty) from byID, the inputs a driver read
// for those ids. A referenced id missing from byID is an error naming the
// prediction and the input; rows without an InputID (stored before table
// inputs) keep their inline input.
func AttachInputs(preds []Prediction, byID map[string]json.RawMessage) error {
	for i := range preds {
		p := &preds[i]
		if p.InputID == "" {
			continue
		}
		in, ok := byID[p.InputID]
		if !ok {
			return fmt.Errorf("prediction %s references input %s, which table inputs does not hold", p.ID, p.InputID)
		}
		p.InferenceInput = in
	}
	return nil
}

// GroundTruthID is the content id of a stored ground truth: the first 128
// bits of the SHA-256 of its JSON text as normalised by
// NormalizeScoreUpdates, in unpadded base64url (22 characters; it is
// stored in every scored prediction row and never shown by the API, so it
// is kept short). Equal texts share one row of table ground_truths
// (migration 00008): every model's prediction of one slot and scope gets
// the same ground truth.
func GroundTruthID(truth []byte) string {
	h := sha256.Sum256(truth)
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// GroundTruth is one row of table ground_truths.
type GroundTruth struct {
	ID    string
	Truth json.RawMessage
}

// ScoreGroundTruths returns the distinct ground truths of updates
// normalised by NormalizeScoreUpdates, in first-seen order (what a driver
// writes to table ground_truths, insert if absent, before the updates),
// and ids[i], the GroundTruthID of updates[i] ("" when it carries none).
func ScoreGroundTruths(updates []ScoreUpdate) (rows []GroundTruth, ids []string) {
	ids = make([]string, len(updates))
	seen := map[string]bool{}
	for i := range updates {
		if len(updates[i].GroundTruth) == 0 {
			continue
		}
		id := GroundTruthID(updates[i].GroundTruth)
		ids[i] = id
		if !seen[id] {
			seen[id] = true
			rows = append(rows, GroundTruth{ID: id, Truth: updates[i].GroundTruth})
		}
	}
	return rows, ids
}

// ScopeID is the content id of a stored scope: the first 64 bits of the
// SHA-256 of its JSON text as normalised by NormalizePredictions, as a
// signed integer. Every prediction of a schedule usually has the same
// scope (the baseline pack: 54 bytes of JSON), so a row stores these 8
// bytes and equal texts share one row of table scopes (migration 00011).
// The distinct scopes of a database are few (one per schedule and scope),
// so two of them sharing an id is not a practical concern (about 2^-64
// per pair); it is never shown by the API.
func ScopeID(scope []byte) int64 {
	h := sha256.Sum256(scope)
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// Scope is one row of table scopes.
type Scope struct {
	ID    int64
	Scope json.RawMessage
}

// PredictionScopes returns the distinct scopes of predictions normalised
// by NormalizePredictions, in first-seen order (what a driver writes to
// table scopes, insert if absent, before the predictions), and ids[i], the
// ScopeID of preds[i].Scope.
func PredictionScopes(preds []Prediction) (rows []Scope, ids []int64) {
	ids = make([]int64, len(preds))
	byText := map[string]int64{}
	for i := range preds {
		sc := preds[i].Scope
		id, ok := byText[string(sc)]
		if !ok {
			id = ScopeID(sc)
			byText[string(sc)] = id
			rows = append(rows, Scope{ID: id, Scope: sc})
		}
		ids[i] = id
	}
	return rows, ids
}
