// Command challenge is a test challenge plugin built by the host tests. It
// embeds sdk.Defaults and implements BuildInferenceInput, ScorePredictions
// and ReportSchema. -mode:
//
//	ok          well behaved
//	crashonce   ScorePredictions exits the process once (marker file -marker)
//	badschema   ReportSchema answers a schema that fails its envelope
//	fail        BuildInferenceInput returns an error
//	sleep       BuildInferenceInput sleeps 30 s ignoring its context
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type challenge struct {
	sdk.Defaults
	mode   string
	marker string
}

func (c *challenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	switch c.mode {
	case "fail":
		return nil, errors.New("cannot build the inference input")
	case "sleep":
		time.Sleep(30 * time.Second)
	}
	return json.Marshal(map[string]json.RawMessage{"raw": raw, "built_by": json.RawMessage(`"testchallenge"`)})
}

func (c *challenge) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	if c.mode == "crashonce" {
		if f, err := os.OpenFile(c.marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			_ = f.Close()
			os.Exit(3)
		}
	}
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		v := float64(len(it.Prediction))
		out[i] = sdk.ScoreResult{PredictionID: it.PredictionID, Value: &v, Success: true}
	}
	return out, nil
}

func (c *challenge) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	r, err := c.Defaults.ReportSchema(ctx)
	if c.mode == "badschema" && len(r.LeaderboardColumns) > 0 {
		r.LeaderboardColumns[0].Type = "NOT_A_COLUMN_TYPE"
	}
	return r, err
}

func main() {
	c := &challenge{}
	flag.StringVar(&c.mode, "mode", "ok", "behaviour")
	flag.StringVar(&c.marker, "marker", "", "marker file for crashonce")
	flag.Parse()
	sdk.ServeChallenge(c, sdk.ChallengeInfo{Name: "testchallenge", Version: "1.0.0"})
}
