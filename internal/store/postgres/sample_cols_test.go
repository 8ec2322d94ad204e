package postgres

import (
	"strings"
	"testing"
)

// TestChartPredictionColumnsSelectNoPayload: SamplePredictions reads none
// of the participant-sized values (each replacement of
// chartPredictionColumns matched predictionColumns).
func TestChartPredictionColumnsSelectNoPayload(t *testing.T) {
	for _, col := range []string{"inference_input_jsonb,", "inference_output_jsonb,", "meta_jsonb,", "truth_jsonb FROM", "ground_truth_jsonb)"} {
		if strings.Contains(chartPredictionColumns, col) && !strings.Contains(chartPredictionColumns, "NULL::jsonb AS "+strings.TrimRight(col, ",)")) {
			t.Errorf("chartPredictionColumns selects %s: %s", col, chartPredictionColumns)
		}
	}
	if strings.Contains(chartPredictionColumns, "FROM ground_truths") {
		t.Errorf("chartPredictionColumns reads the ground truth: %s", chartPredictionColumns)
	}
}
