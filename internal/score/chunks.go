package score

import (
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// MaxRequestBytes bounds the JSON one ResolveGroundTruth or
// ScorePredictions call carries: half the plugin message limit
// (wire.MaxMessageBytes, 16 MiB), so estimates that run short still fit.
// A batch whose predictions carry large answers (a model may answer up to
// MAX_MODEL_OUTPUT_BYTES, 64 KiB, with every answer valid) is sent in as
// many calls as it needs instead of one request the host would refuse
// (host.ErrRequestTooLarge): without the split, one participant's large
// answers would fail every batch holding them, and the same oldest batch
// would be claimed again on every cycle, so nobody would be scored.
const MaxRequestBytes = wire.MaxMessageBytes / 2

// Estimated JSON bytes of the fixed fields of one prediction record (ids,
// status, times, keys) and of one score item (keys, prediction id).
const (
	recordOverheadBytes = 512
	itemOverheadBytes   = 128
)

// recordBytes estimates the JSON size of r as sent to ResolveGroundTruth.
func recordBytes(r *sdk.PredictionRecord) int {
	return recordOverheadBytes + len(r.ID) + len(r.ModelID) + len(r.PredictionConfigID) + len(r.ScopeKey) +
		len(r.Scope) + len(r.InferenceInput) + len(r.InferenceOutput) + len(r.Meta)
}

// itemBytes estimates the JSON size of it as sent to ScorePredictions.
func itemBytes(it *sdk.ScoreItem) int {
	return itemOverheadBytes + len(it.PredictionID) + len(it.Prediction) + len(it.GroundTruth)
}

// chunks cuts [0, n) into consecutive ranges whose estimated sizes
// (size(i) per element) add up to at most limit, one element at least per
// range; it returns the range ends.
func chunks(n, limit int, size func(i int) int) []int {
	var ends []int
	sum := 0
	for i := range n {
		s := size(i)
		if sum > 0 && sum+s > limit {
			ends = append(ends, i)
			sum = 0
		}
		sum += s
	}
	if n > 0 {
		ends = append(ends, n)
	}
	return ends
}
