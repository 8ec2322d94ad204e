// Package sdk is the public Go SDK for challenge authors and model authors.
//
// A challenge is a set of callables (input builder, output validator,
// scoring, ground truth, aggregation, ranking, report schema) served as a
// hashicorp/go-plugin subprocess speaking gRPC. A model is a participant's
// Tick/Predict implementation served the same way. Both are launched by the
// coordinator host; a plugin that panics, hangs or answers garbage costs only
// its own call.
//
// Challenge authors implement [Challenge], usually by embedding [Defaults]
// and overriding only what differs, then call [ServeChallenge] from main.
// Model authors implement [Model] and call [ServeModel].
//
// Payloads whose shape belongs to the challenge are JSON documents
// ([encoding/json.RawMessage]); the envelopes the runtime reads itself
// (score results, score envelope, leaderboard entry, report schema) are typed.
package sdk

import "github.com/crunch-coordinator/coordinator/sdk/internal/seam"

// ContractVersion is the plugin contract version this SDK speaks. The host
// refuses plugins that report another version in Describe.
const ContractVersion = "1"

// ProtocolVersion is the go-plugin application protocol version used in the
// handshake. It changes only with an incompatible change of the gRPC services.
const ProtocolVersion = seam.ProtocolVersion

// Magic cookie exchanged in the go-plugin handshake. It is not a security
// measure; it only stops a plugin binary from being run by accident.
const (
	MagicCookieKey   = seam.MagicCookieKey
	MagicCookieValue = seam.MagicCookieValue
)

// Plugin kinds: the names in the go-plugin plugin set.
const (
	PluginChallenge = seam.KindChallenge
	PluginModel     = seam.KindModel
)

// Callable names, as listed by Describe and used in diagnostics.
const (
	CallableProvideRawInput         = "ProvideRawInput"
	CallableBuildInferenceInput     = "BuildInferenceInput"
	CallableValidateInferenceOutput = "ValidateInferenceOutput"
	CallableBuildPredictionScope    = "BuildPredictionScope"
	CallableBuildPredictCall        = "BuildPredictCall"
	CallableResolveGroundTruth      = "ResolveGroundTruth"
	CallableScorePredictions        = "ScorePredictions"
	CallableAggregateModelScores    = "AggregateModelScores"
	CallableRankLeaderboard         = "RankLeaderboard"
	CallableReportSchema            = "ReportSchema"
)

// AllCallables lists every challenge callable in canonical order.
var AllCallables = []string{
	CallableBuildInferenceInput, CallableValidateInferenceOutput, CallableScorePredictions,
	CallableAggregateModelScores, CallableReportSchema, CallableRankLeaderboard,
	CallableProvideRawInput, CallableResolveGroundTruth, CallableBuildPredictionScope,
	CallableBuildPredictCall,
}

// RequiredCallables must be implemented by the challenge plugin itself; the
// others fall back to the runtime defaults ([Defaults]) when not listed.
// Source: reference-system.md 2.2 ("Required?" column).
var RequiredCallables = []string{CallableBuildInferenceInput, CallableScorePredictions}

// Model method names, as listed by a model's Describe.
const (
	MethodTick    = "Tick"
	MethodPredict = "Predict"
	// MethodTickPredict is the optional combined method: Tick then Predict
	// in one round trip, each with its own deadline and its own outcome.
	MethodTickPredict = "TickPredict"
	// MethodTickPredictBatch is the optional batched method: the Tick and
	// Predict calls of several cycles in order on one stream, each with its
	// own deadline and its own outcome (a replay's block of cycles).
	MethodTickPredictBatch = "TickPredictBatch"
)

// RequiredModelMethods must be implemented by every model plugin.
var RequiredModelMethods = []string{MethodTick, MethodPredict}

// OptionalModelMethods are the methods a model plugin served by this SDK
// also offers, listed in Describe's optional_methods. A host uses one only
// when the plugin lists it (plugins built with an older SDK list none).
var OptionalModelMethods = []string{MethodTickPredict, MethodTickPredictBatch}

// MethodBuildInferenceInputs is the optional batched method of a challenge
// plugin: ProvideRawInput then BuildInferenceInput for several cycle times
// in one call, each cycle reading the feed as stored at its time. The SDK
// serves it (and lists it in Describe's optional_methods) when the
// challenge implements both callables itself; when the host sends the
// records' ingestion times (FeedIngestionReader), the first read of each
// query shape reads the block's whole range once and the cycles' reads are
// answered from it, the same records as a read at each cycle's time.
const MethodBuildInferenceInputs = "BuildInferenceInputs"
