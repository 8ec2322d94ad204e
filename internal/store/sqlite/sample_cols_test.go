package sqlite

import (
	"strings"
	"testing"
)

// TestChartPredictionColsSelectNoPayload: SamplePredictions reads none of
// the participant-sized values (each replacement of chartPredictionCols
// matched readPredictionCols).
func TestChartPredictionColsSelectNoPayload(t *testing.T) {
	for _, col := range []string{"inference_input_jsonb", "inference_output_jsonb", "meta_jsonb", "truth_jsonb", "ground_truth_jsonb"} {
		if strings.Contains(chartPredictionCols, col) {
			t.Errorf("chartPredictionCols selects %s: %s", col, chartPredictionCols)
		}
	}
}
