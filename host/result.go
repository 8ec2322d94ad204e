package host

import (
	"encoding/json"
	"time"
)

// Status classifies the outcome of one plugin call.
type Status string

// Call statuses. Every call result carries exactly one.
const (
	// StatusSuccess: the plugin answered with a well-formed result in time.
	StatusSuccess Status = "SUCCESS"
	// StatusFailed: the plugin returned an error.
	StatusFailed Status = "FAILED"
	// StatusTimeout: the per-call deadline passed.
	StatusTimeout Status = "TIMEOUT"
	// StatusCrashed: the process exited or the connection was lost mid-call.
	StatusCrashed Status = "CRASHED"
	// StatusBadImplementation: handshake failure, wrong contract version,
	// required RPC unimplemented, or output that does not decode or fails
	// its envelope.
	StatusBadImplementation Status = "BAD_IMPLEMENTATION"
	// StatusAbsent: the model is stopped (or not started) and was not called.
	StatusAbsent Status = "ABSENT"
)

// StopReason says why the supervisor stopped a model for good.
type StopReason string

// Stop reasons (failure codes of reference-system.md 6.5).
const (
	StopMultipleFailed    StopReason = "MULTIPLE_FAILED"
	StopMultipleTimeout   StopReason = "MULTIPLE_TIMEOUT"
	StopBadImplementation StopReason = "BAD_IMPLEMENTATION"
)

// CallResult is the outcome of one call to one plugin. Output is the JSON
// answer when Status is SUCCESS. Err explains any other status. Duration is
// the wall time of the call.
type CallResult struct {
	Status   Status
	Output   json.RawMessage
	Err      error
	Duration time.Duration
}

// ModelState is the supervisor's view of one model plugin.
type ModelState struct {
	ID       string
	Name     string // from Describe; empty until the first handshake
	Version  string
	Running  bool
	Stopped  bool       // stopped for good by the stop rules
	Reason   StopReason // set when Stopped
	Restarts int
	// ConsecutiveFailures counts FAILED or CRASHED results since the last success.
	ConsecutiveFailures int
	// ConsecutiveTimeouts counts TIMEOUT results since the last success.
	ConsecutiveTimeouts int
	LastError           string
}
