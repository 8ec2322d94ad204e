package report

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TestCheckpointRowTimes: the emission payload the checkpoint worker writes
// (Go's RFC 3339 times, second precision, or nanoseconds) comes out with
// the API's millisecond "Z" timestamps.
func TestCheckpointRowTimes(t *testing.T) {
	at := time.Date(2023, 3, 1, 12, 0, 0, 0, time.UTC)
	start := at.Add(-time.Hour).Add(123456789 * time.Nanosecond)
	payload, err := json.Marshal(checkpoint.Payload{
		CheckpointID: "CKP_X", Slot: at, PeriodStart: &start, PeriodEnd: at,
		LeaderboardID: "LB_1", LeaderboardCreatedAt: at.Add(-time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	row := checkpointRow(store.Checkpoint{ID: "CKP_X", Kind: checkpoint.Kind, LastRunAt: &at, Meta: json.RawMessage(`{}`),
		Emission: &store.EmissionCheckpoint{ID: "EMC_X", CheckpointID: "CKP_X", EmittedAt: at, Payload: payload}})
	entries, _ := row["entries"].([]any)
	if len(entries) != 1 {
		t.Fatalf("entries = %v, want the payload object", row["entries"])
	}
	e := entries[0].(map[string]any)
	for k, want := range map[string]any{
		"slot": "2023-03-01T12:00:00.000Z", "period_start": "2023-03-01T11:00:00.123Z",
		"period_end": "2023-03-01T12:00:00.000Z", "leaderboard_created_at": "2023-03-01T11:59:00.000Z",
		"checkpoint_id": "CKP_X", "leaderboard_id": "LB_1",
	} {
		if e[k] != want {
			t.Errorf("entries[0].%s = %v, want %v", k, e[k], want)
		}
	}
	for _, k := range []string{"created_at", "emitted_at", "last_run_at", "period_end"} {
		if row[k] != "2023-03-01T12:00:00.000Z" {
			t.Errorf("%s = %v", k, row[k])
		}
	}
}
