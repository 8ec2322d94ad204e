// Package host is the coordinator's plugin host: it launches challenge and
// model plugins (hashicorp/go-plugin subprocesses speaking gRPC), verifies
// them, calls them with deadlines, classifies every outcome, and supervises
// and restarts them.
//
// # API
//
//   - StartChallenge(ctx, PluginSpec, sdk.HostData, Options) (*Challenge, error):
//     *Challenge implements sdk.Challenge. Route fixes, once, the callables
//     the plugin serves (config/callables.env's `challenge` ones; until then
//     the ones Describe lists): they go over gRPC, the others run in-process
//     as sdk.Defaults. Both answers pass the same checked boundary
//     (wire.Checked).
//   - StartModels(ctx, []PluginSpec, Options) (*ModelSet, error): Tick and
//     Predict fan out to every model concurrently and return one CallResult
//     per model id; TickPredict is both in one round trip per model for the
//     plugins that serve it (the same calls, deadlines and results; the
//     others get two calls); StartBatch opens one stream per model for
//     the calls of several cycles known in advance (a replay's block) and
//     ModelBatch.Next sends each cycle's calls on it in lockstep (Tick
//     with the first Predict in one request, as TickPredict; the next
//     cycle's only after this one's answers) and applies the answers as
//     those calls would be applied; States, WaitReady, Close. Challenge.
//     BuildInferenceInputs makes the inference inputs of several cycle
//     times in one call, each cycle reading the feed as stored at its time
//     (the SDK reads the block's feed range once when the host data sends
//     ingestion times: sdk.FeedIngestionReader, node.StoreHostData).
//   - Probe(ctx, PluginSpec, kind, Options) (ProbeReport, error): one
//     launch + handshake + Describe + verify + health + stop, for `doctor`.
//   - VerifyChallenge / VerifyModel: the single contract check, shared by
//     the host and `doctor`; CheckBinary: the pre-exec file check.
//
// # Launch
//
// Each start (a "generation") builds everything anew, because a
// plugin.Client is single-use: CheckBinary (exists, regular file, execute
// bit, SHA-256 pin with a fresh hash), a new exec.Cmd through our own
// go-plugin RunnerFunc, a new ClientConfig (gRPC only, AutoMTLS, start
// timeout, wire.DialOptions size caps and fixed flow-control windows, an hclog logger named after the
// plugin kind with plugin_id and generation fields that re-logs the plugin's
// stderr as structured lines, a 64 KiB stderr ring kept for diagnostics).
// The plugin does not inherit the host's environment, only an allowlist
// (PATH, HOME, TMPDIR, LANG, LC_ALL, TZ, USER) plus PluginSpec.Env, so host
// secrets never reach participant code. stdin is closed. Then Describe with
// its own deadline and VerifyChallenge/VerifyModel.
//
// The runner puts the child in its own process group (Setpgid) and forks it
// from a goroutine locked to its OS thread for the whole life of the child,
// with Pdeathsig=SIGKILL (Linux). The same goroutine waits for the child
// with waitid(WNOWAIT), SIGKILLs the rest of the process group while the
// group id is still reserved by the zombie leader, then reaps it: a plugin
// that forks grandchildren cannot keep the pipes (and so go-plugin's Kill)
// hanging, and nothing of the group outlives the plugin.
//
// # Python models (model runner)
//
// A model spec with Runner set is a local Python model: launchRunner starts
// `python -m coordinator_runner` through the same procRunner (own process
// group, Pdeathsig, group SIGKILL, environment allowlist, closed stdin),
// bound to a Unix socket in a private 0700 directory, waits for the address
// file, for grpc.health.v1 on a separate channel and for Setup, all within
// the start timeout, and calls tick/predict over CrunchDAO's model-runner
// protocol (internal/modelrunner). Runner statuses are classified in
// classifyCall: BAD_IMPLEMENTATION → BAD_IMPLEMENTATION; INVALID_ARGUMENT /
// FAILED_PRECONDITION → FAILED, not charged; any other code, and a result
// that does not decode (NaN/Infinity, wrong length) → FAILED. Go and Python
// models live in one ModelSet under the same supervision and stop rules.
//
// # Classification
//
// Every call result gets exactly one Status, decided on structured facts
// only (gRPC codes, the call's own deadline, the done channel of the plugin
// process, sentinel errors), never on message text:
//
//   - SUCCESS: answered in time with output that decodes and passes its
//     envelope.
//   - FAILED: the plugin returned an error (Unknown, InvalidArgument,
//     FailedPrecondition, ...). Not charged: a call cancelled by the host, a
//     request larger than wire.MaxMessageBytes (never sent, ErrRequestTooLarge).
//   - TIMEOUT: the per-call deadline passed (DeadlineExceeded).
//   - CRASHED: the process exited or the connection broke (Unavailable, the
//     done channel closed).
//   - BAD_IMPLEMENTATION: handshake rejected, wrong contract version, a
//     required callable/method missing from Describe, Unimplemented, Internal
//     (output the plugin could not encode or we could not decode), an answer
//     over the size limit (ResourceExhausted, ErrResponseTooLarge),
//     or an answer the checked boundary refuses (wire.ErrBadOutput; models:
//     ErrBadEnvelope).
//   - ABSENT: a model that is stopped or between generations was not called.
//
// Start failures are StartErrors: BAD_IMPLEMENTATION for bad files, pins,
// handshakes (noise on stdout, wrong cookie, versions) and contracts;
// TIMEOUT when no handshake came within the start timeout; CRASHED when the
// process died with a panic (or a signal) before the handshake. A
// StartError also carries the facts of the failure (ExitFacts, go-plugin's
// cookie rejection, the first stdout line, the stderr tail, the contract
// Problems); StartError.Diagnostic and Problem.Diagnostic turn them into a
// Diagnostic (code, summary, detail, fix) for doctor, dev and serve to
// render, without anyone parsing an error's text.
//
// # Supervision and restart policy
//
// One supervisor goroutine per plugin owns its generations. After a
// TIMEOUT (the plugin's handler keeps running, so the process is killed) or
// a CRASHED call, or when the process exits while idle, the process group
// is SIGKILLed and a new generation starts after a backoff of
// RestartBackoffMin*2^(n-1), capped at RestartBackoffMax, jittered to
// [d/2, d], where n counts restarts since the last SUCCESS. Calls on a
// challenge wait for the new generation within their own deadline; model
// calls do not queue and get ABSENT (ErrRestarting) meanwhile.
//
// Models are additionally subject to stop rules (thresholds in Options):
// more than MaxConsecutiveFailures consecutive FAILED-or-CRASHED results →
// stopped with MULTIPLE_FAILED; more than MaxConsecutiveTimeouts consecutive
// TIMEOUTs → MULTIPLE_TIMEOUT; any BAD_IMPLEMENTATION → BAD_IMPLEMENTATION.
// A SUCCESS resets both counters. Failed restarts count like calls. A
// stopped model is killed, never restarted, and answers ABSENT with its stop
// reason. A challenge has no stop rules but is never retried after a
// BAD_IMPLEMENTATION start. Every start, exit, restart and stop is an hclog
// line with plugin_id, generation, failure_code and reason (and, when set,
// an Options.OnEvent callback).
//
// # Shutdown, and a host killed with SIGKILL
//
// Close asks each plugin to shut down over gRPC (go-plugin's Kill, run in a
// goroutine because it can block), SIGKILLs the process group when that
// does not finish within KillTimeout, and waits (bounded) until the child is
// reaped; a Kill that still hangs is logged as a leak instead of hanging the
// host. go-plugin's Managed/CleanupClients registry is not used.
//
// If the host itself is SIGKILLed no Go code runs. Then: (1) on Linux the
// kernel delivers Pdeathsig=SIGKILL to every plugin when the host thread that
// forked it dies, which happens with the host; (2) sdk.ServeChallenge and
// sdk.ServeModel run a watchdog that exits the plugin when its parent pid
// changes (polled every 500 ms), which covers non-Linux hosts and plugins
// whose Pdeathsig was lost; (3) grandchildren a plugin started die with it
// only if they stay in its process group. The next host start is safe
// anyway: every plugin gets a new private Unix-socket directory, a new mTLS
// certificate pair (so an orphan cannot be reached or impersonated) and no
// fixed port, so survivors of a previous host can neither collide with nor
// answer for the new generation.
package host
