package node

import (
	"context"

	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/score"
)

// PredictOnce runs one cycle of the node's predict worker at its clock's
// now, as its live loop does when a slot is due.
func (n *Node) PredictOnce(ctx context.Context) (predict.Result, error) {
	return n.predict.RunOnce(ctx)
}

// ScoreOnce runs one cycle of the node's score worker at its clock's now,
// as its live loop does every SCORE_INTERVAL_SECONDS.
func (n *Node) ScoreOnce(ctx context.Context) (score.ScoreResult, error) { return n.score.Score(ctx) }

// SetLeaderboardAlongside turns on or off the full-speed replay's
// leaderboard rebuilds alongside the next block; the returned function
// restores the setting.
func SetLeaderboardAlongside(on bool) (restore func()) {
	was := leaderboardAlongside
	leaderboardAlongside = on
	return func() { leaderboardAlongside = was }
}
