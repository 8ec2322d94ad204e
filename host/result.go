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

// StopReason says why the supervisor took a model out: for a cool-down
// (MULTIPLE_FAILED, MULTIPLE_TIMEOUT) or for good (BAD_IMPLEMENTATION).
type StopReason string

// Stop reasons (failure codes of reference-system.md 6.5).
const (
	StopMultipleFailed    StopReason = "MULTIPLE_FAILED"
	StopMultipleTimeout   StopReason = "MULTIPLE_TIMEOUT"
	StopBadImplementation StopReason = "BAD_IMPLEMENTATION"
	// StopDisabled: stopped by an operator (ModelSet.Disable, the
	// orchestrator API's desired_state STOPPED) until ModelSet.Enable.
	StopDisabled StopReason = "DISABLED"
	// StopRetired: the model left (ModelSet.Retire, e.g. its deployment
	// was STOPPED on the orchestrator); it answers ABSENT until revived by
	// ModelSet.Upsert.
	StopRetired StopReason = "RETIRED"
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
	ID      string
	Name    string // from Describe; empty until the first handshake
	Version string
	Running bool
	Stopped bool       // stopped for good (BAD_IMPLEMENTATION)
	Reason  StopReason // set when Stopped or CoolingDown
	// CoolingDown: taken out by MULTIPLE_FAILED or MULTIPLE_TIMEOUT until
	// NextRetry, then re-admitted with a fresh process.
	CoolingDown bool
	// Cooldowns counts the cool-downs so far.
	Cooldowns int
	// StateSince is when the current state (running, restarting, cooling
	// down, stopped) began (UTC; zero before the first start).
	StateSince time.Time
	// NextRetry is when a restarting or cooling-down model is started
	// again (UTC; zero otherwise).
	NextRetry time.Time
	Restarts  int
	// Generation counts the processes started for the model (1 for the
	// first; each restart, re-admission or reload adds one).
	Generation int
	// ConsecutiveFailures counts FAILED or CRASHED results since the last success.
	ConsecutiveFailures int
	// ConsecutiveTimeouts counts TIMEOUT results since the last success.
	ConsecutiveTimeouts int
	LastError           string
	// Deployment, PlayerID and PlayerName come from a remote model's
	// RemoteSpec (orchestrator models); empty otherwise.
	Deployment string
	PlayerID   string
	PlayerName string
}
