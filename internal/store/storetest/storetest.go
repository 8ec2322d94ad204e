// Package storetest is the conformance suite of the storage contract
// (internal/store). Both backends run it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite asserts every behaviour the contract promises: round-trip
// fidelity of JSON (nested, unicode, big integers kept exactly, floats),
// every invalid value refused with store.ErrInvalidValue and nothing of it
// written (NaN/±Inf floats, JSON that is not JSON, numbers overflowing
// float64 such as 1e999, \u0000 escapes, empty ids, out-of-range integers,
// unknown references), times UTC in and out, ordering and pagination,
// idempotency, "latest N" returning the newest N, claim semantics and
// concurrent claimers, leader locks, migrations and cancellation.
//
// One file per contract area: migrations.go, models.go, schedules.go,
// predictions.go, inputs.go, sample.go, rollups.go, revisions.go, claims.go, leaderboards.go, market.go, checkpoints.go,
// times.go and locks.go. Every area gets its own database, so the areas
// run in parallel; inside an area the invalid-value cases, which share one
// database, run in parallel too (each is refused before anything is
// written, or in a transaction that is rolled back, so they hold SQLite's
// single writer only briefly).
package storetest

import (
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Run runs the conformance suite, one parallel subtest per contract area.
//
// open(t) must return a Store on a fresh, EMPTY (not migrated) database
// belonging to t; calling open again with the same t must return a second,
// independent Store (its own connection pool) on the SAME database, which
// the concurrency and leader-lock tests need. open registers the Store's
// Close (and any database cleanup) with t.Cleanup, and must be safe to call
// from parallel tests. On failure open calls t.Fatal (or t.Skip when the
// backend is not configured).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	areas := []struct {
		name string
		test func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"Schema", testSchema},
		{"BackendAndPing", testBackendPing},
		{"Models", testModels},
		{"ModelsInvalid", testModelsInvalid},
		{"Schedules", testSchedules},
		{"SchedulesInvalid", testSchedulesInvalid},
		{"SavePredictCycle", testSavePredictCycle},
		{"JSONFidelity", testJSONFidelity},
		{"PredictionsInvalid", testPredictionsInvalid},
		{"TimesUTC", testTimesUTC},
		{"ListPredictions", testListPredictions},
		{"Inputs", testInputs},
		{"InputsSlidingWindow", testInputsSlidingWindow},
		{"InputsBlock", testInputsBlock},
		{"SamplePredictions", testSamplePredictions},
		{"SampleSeriesOfEveryInsert", testSampleSeriesOfEveryInsert},
		{"SampleModelScores", testSampleModelScores},
		{"Rollups", testRollups},
		{"ChartRevisions", testChartRevisions},
		{"ClaimAndScore", testClaimAndScore},
		{"ClaimAndScoreErrors", testClaimAndScoreErrors},
		{"ClaimAndScoreConcurrent", testClaimConcurrent},
		{"GroundTruth", testGroundTruth},
		{"Scopes", testScopes},
		{"ScoredPredictionsAndStats", testScoredAndStats},
		{"ModelScoreStatsWindows", testModelScoreStatsWindows},
		{"LatestPerformedAtAndCount", testLatestPerformedAndCount},
		{"Leaderboards", testLeaderboards},
		{"LeaderboardsInvalid", testLeaderboardsInvalid},
		{"Market", testMarket},
		{"MarketInvalid", testMarketInvalid},
		{"MarketConcurrentFirstWrites", testMarketConcurrentFirstWrites},
		{"Checkpoints", testCheckpoints},
		{"CheckpointsInvalid", testCheckpointsInvalid},
		{"LeaderLock", testLeaderLock},
		{"CancelledContext", testCancelled},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			a.test(t, open)
		})
	}
}

// invalidCase is one write the contract must refuse with
// store.ErrInvalidValue.
type invalidCase struct {
	name string
	call func() error
}

// runInvalid runs every case as a parallel subtest and returns once all
// have finished, so the caller can then check that nothing was written.
func runInvalid(t *testing.T, cases []invalidCase) {
	t.Helper()
	t.Run("refused", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				wantErrIs(t, c.call(), store.ErrInvalidValue, c.name)
			})
		}
	})
}
