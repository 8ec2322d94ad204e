package host

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// PluginSpec says how to launch one plugin binary.
//
//   - ID identifies the plugin in results, states, logs and events (the model
//     id for models; e.g. "challenge" for the challenge). Required, unique in
//     a ModelSet.
//   - Path is the executable. It is checked (exists, regular file, executable
//     bit) before anything is executed.
//   - Args are extra command-line arguments; Env extra KEY=VALUE variables.
//     The plugin does not inherit the host's environment: it gets PATH, HOME,
//     TMPDIR, LANG, LC_ALL, TZ, USER (when set), then Env, then go-plugin's
//     handshake variables (which cannot be overridden).
//   - SHA256, when non-empty, is the lowercase hex SHA-256 the binary must
//     have (FileSHA256; for a Python model, of its code: PythonCodeSHA256),
//     checked before every launch and restart: a mismatch is a
//     BAD_IMPLEMENTATION start failure naming the file and both checksums,
//     and nothing is executed. Reload*SHA256 changes it for a rebuild.
//   - StartTimeout bounds the handshake; 0 means Options.StartTimeout.
//   - Runner, when set, makes this model a local Python model served by the
//     model runner (Path is then unused; see RunnerSpec). Its
//     start (serve, health, Setup) is bounded by StartTimeout.
//   - Remote, when set, makes this model a remote model runner reached at
//     an address (no process is started; Path, Args, Env and SHA256 are
//     unused; see RemoteSpec). Each connect attempt (the channel ready,
//     health, Setup) is bounded by StartTimeout.
type PluginSpec struct {
	ID           string
	Path         string
	Args         []string
	Env          []string
	SHA256       string
	StartTimeout time.Duration
	Runner       *RunnerSpec
	Remote       *RemoteSpec

	// stderrLog, set by the supervisor of a model, keeps the model's
	// stderr across generations (ModelSet.Stderr).
	stderrLog *ringBuffer
}

// Options tune the host. Zero fields take the defaults in parentheses.
//
//   - Logger receives host events and the plugins' stderr as structured lines
//     (hclog.NewNullLogger()).
//   - CallTimeout is the deadline of one Tick/Predict/callable call (5 s);
//     CallTimeouts overrides it per callable or method name
//     (sdk.CallableScorePredictions, sdk.MethodPredict, ...).
//   - DescribeTimeout bounds the Describe after the handshake (2 s).
//   - StartTimeout bounds the handshake when the spec has none (10 s).
//   - MaxConsecutiveFailures / MaxConsecutiveTimeouts: a model is taken out
//     (MULTIPLE_FAILED / MULTIPLE_TIMEOUT) when it has MORE than this many
//     consecutive FAILED-or-CRASHED / TIMEOUT results (3 / 3; a negative
//     value disables the rule).
//   - CooldownMin/Max: a model taken out by MULTIPLE_FAILED or
//     MULTIPLE_TIMEOUT is re-admitted, with a fresh process and a warm-up
//     Tick, after a cool-down of min*2^(n-1) capped at max for its n-th
//     cool-down in a row, with jitter in [d/2, d] (1 min / 30 min); a valid
//     answer ends the streak. BAD_IMPLEMENTATION (a contract violation)
//     stops a model for good.
//   - ConfirmOutputs: the caller confirms every SUCCESS Predict answer with
//     ModelSet.ConfirmOutput after validating it; only a valid answer then
//     resets the consecutive-failure counters, and an invalid one counts as
//     a FAILED result (false: a SUCCESS answer resets them).
//   - RestartBackoffMin/Max: restart delay after the n-th consecutive crash
//     is min*2^(n-1) capped at max, with jitter in [d/2, d] (250 ms / 30 s).
//   - KillTimeout bounds each phase of a shutdown (graceful Kill, then group
//     SIGKILL) (3 s).
//   - MaxParallelStarts bounds concurrent plugin launches in StartModels (8).
//   - MaxOutputBytes bounds one model answer (64 KiB, DefaultMaxOutputBytes):
//     a bigger one is a FAILED result "output N bytes exceeds limit L"
//     (ErrInvalidOutput), and a model connection never receives a message
//     much bigger than this (gRPC refuses it from its length prefix).
//   - Sandbox contains every plugin process (Go plugins and Python model
//     runners): Landlock, no_new_privs, an unprivileged uid when the host
//     runs as root, rlimits and cgroups (the zero value: on, with
//     sandbox's defaults). A process ended by one of its limits is
//     CRASHED with the limit named in the error and restarted under the
//     stop rules.
//   - OnEvent, when set, is called synchronously for every lifecycle event
//     (start, ready, restart, stop, ...); it must not block.
type Options struct {
	Logger                 hclog.Logger
	CallTimeout            time.Duration
	CallTimeouts           map[string]time.Duration
	DescribeTimeout        time.Duration
	StartTimeout           time.Duration
	MaxConsecutiveFailures int
	MaxConsecutiveTimeouts int
	CooldownMin            time.Duration
	CooldownMax            time.Duration
	ConfirmOutputs         bool
	RestartBackoffMin      time.Duration
	RestartBackoffMax      time.Duration
	KillTimeout            time.Duration
	MaxParallelStarts      int
	MaxOutputBytes         int
	Sandbox                sandbox.Config
	OnEvent                func(Event)

	// noLiveStream, set by tests, makes live TickPredict send every cycle
	// on its own (tickPredictOne) instead of on a model's live stream, so
	// that path is checked against the same expectations.
	noLiveStream bool
}

// Defaults applied by withDefaults.
const (
	DefaultCallTimeout       = 5 * time.Second
	DefaultDescribeTimeout   = 2 * time.Second
	DefaultStartTimeout      = 10 * time.Second
	DefaultMaxConsecutive    = 3
	DefaultCooldownMin       = time.Minute
	DefaultCooldownMax       = 30 * time.Minute
	DefaultRestartBackoffMin = 250 * time.Millisecond
	DefaultRestartBackoffMax = 30 * time.Second
	DefaultKillTimeout       = 3 * time.Second
	DefaultMaxParallelStarts = 8
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.DescribeTimeout <= 0 {
		o.DescribeTimeout = DefaultDescribeTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.MaxConsecutiveFailures == 0 {
		o.MaxConsecutiveFailures = DefaultMaxConsecutive
	}
	if o.MaxConsecutiveTimeouts == 0 {
		o.MaxConsecutiveTimeouts = DefaultMaxConsecutive
	}
	if o.CooldownMin <= 0 {
		o.CooldownMin = DefaultCooldownMin
	}
	if o.CooldownMax <= 0 {
		o.CooldownMax = DefaultCooldownMax
	}
	if o.CooldownMax < o.CooldownMin {
		o.CooldownMax = o.CooldownMin
	}
	if o.RestartBackoffMin <= 0 {
		o.RestartBackoffMin = DefaultRestartBackoffMin
	}
	if o.RestartBackoffMax <= 0 {
		o.RestartBackoffMax = DefaultRestartBackoffMax
	}
	if o.RestartBackoffMax < o.RestartBackoffMin {
		o.RestartBackoffMax = o.RestartBackoffMin
	}
	if o.KillTimeout <= 0 {
		o.KillTimeout = DefaultKillTimeout
	}
	if o.MaxParallelStarts <= 0 {
		o.MaxParallelStarts = DefaultMaxParallelStarts
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return o
}

// timeoutFor returns the deadline of one call to callable.
func (o Options) timeoutFor(callable string) time.Duration {
	if d, ok := o.CallTimeouts[callable]; ok && d > 0 {
		return d
	}
	return o.CallTimeout
}

// startTimeout returns the handshake bound for spec.
func (o Options) startTimeout(spec PluginSpec) time.Duration {
	if spec.StartTimeout > 0 {
		return spec.StartTimeout
	}
	return o.StartTimeout
}

// EventKind names a plugin lifecycle event.
type EventKind string

// Lifecycle events, also logged through Options.Logger with the same fields.
const (
	EventStarted     EventKind = "started"      // handshake + Describe + verify passed
	EventStartFailed EventKind = "start_failed" // a launch failed (Status, Err say why)
	EventExited      EventKind = "exited"       // the process exited while the host did not ask it to
	EventRestart     EventKind = "restart"      // a restart is scheduled after Delay
	EventStopped     EventKind = "stopped"      // stopped for good (BAD_IMPLEMENTATION, Reason)
	EventCooldown    EventKind = "cooldown"     // taken out for Delay by MULTIPLE_FAILED / MULTIPLE_TIMEOUT (Reason)
	EventReadmitted  EventKind = "readmitted"   // cool-down over: started again with fresh counters
	EventClosed      EventKind = "closed"       // shut down by Close
)

// Event is one lifecycle event of one plugin. Generation counts launches of
// the plugin (1 = first). Status is the classification that caused it (if
// any), Reason the stop reason for EventStopped, Delay the backoff before a
// restart, Err the cause.
type Event struct {
	Time       time.Time
	Kind       EventKind
	PluginID   string
	Generation int
	Status     Status
	Reason     StopReason
	Delay      time.Duration
	Err        error
}
