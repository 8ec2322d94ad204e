package seam

import (
	"github.com/hashicorp/go-plugin"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

// Plugin-side service constructors of package sdk, installed by its init.
// seam cannot import sdk (sdk imports seam), so sdk/wire reaches sdk's
// services through these to serve an sdk.Challenge or sdk.Model in-process
// (sdk/sdktest) with exactly the code sdk.ServeChallenge and sdk.ServeModel
// run. impl and info are an sdk.Challenge and sdk.ChallengeInfo (an
// sdk.Model and sdk.ModelInfo); any other type is a programming error and
// panics.
var (
	ChallengeServer func(impl, info any) func(*plugin.GRPCBroker) challengev1.ChallengeServer
	ModelServer     func(impl, info any) modelv1.ModelServer
)
