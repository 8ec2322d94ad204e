// Package predict is the predict worker: on each due schedule slot it builds
// the inference input, sends Tick and Predict to every model, validates the
// outputs and stores one prediction per known model in one transaction.
//
// One cycle (Worker.RunOnce) at now = clock.Now():
//
//  1. Due rows. A schedule row is due when its grid slot
//     schedule.SlotAt(row, now) has no prediction yet. "Already done" is read
//     from the store (LatestPerformedAt of the row >= slot start), never kept
//     in memory, so a restarted worker neither skips nor repeats the current
//     slot (reference defect 14.2 #17). Skipped slots are logged (from, to,
//     slots_skipped) and not back-filled: on the worker's first cycle as
//     missed while the node was down, later as a data gap (the clock jumped
//     over missing data, or cycles were skipped on stale data). No due row:
//     the cycle ends.
//  2. Feed freshness. When a gate is configured, every asset the due rows
//     need (Config.Assets plus the rows' scope_template "asset") must be
//     fresh; otherwise the cycle is skipped with a logged reason and nothing
//     is called or stored (never predict on stale data).
//  3. ProvideRawInput(now) and BuildInferenceInput, then Tick to every
//     model. With a model set that implements TickPredicter (the host's),
//     Tick travels with the first due row's Predict, one round trip per
//     model: that row's scope and call (step 4) are built first, as they do
//     not depend on Tick, and when building them fails the Tick fan-out
//     still runs before the cycle aborts.
//  4. Per due row: BuildPredictionScope, BuildPredictCall (args and kwargs
//     both reach the models, reference defect 14.1 #10), Predict fan-out, output normalisation (object as-is,
//     anything else {"result": v}), one ValidateInferenceOutput batch for the
//     SUCCESS outputs.
//  5. One stored prediction per known model and due row, id
//     store.PredictionID(row.ID, modelID, slot) (insert-if-absent, so a
//     retried cycle inserts nothing new), status SUCCESS, FAILED (plugin
//     error, or validation failure with output {"_validation_error": msg,
//     "raw_output": output (only up to KeepRawOutputBytes),
//     "raw_output_head", "raw_output_bytes", "raw_output_sha256"}; an
//     output over MAX_MODEL_OUTPUT_BYTES never arrives: FAILED "output N
//     bytes exceeds limit"; errors cut at MaxErrorBytes), TIMEOUT, CRASHED, BAD_IMPLEMENTATION or ABSENT
//     (model down or not in the answer), exec_time_ms in milliseconds,
//     performed_at = now, resolvable_at = now + resolve_after_seconds.
//  6. store.SavePredictCycle writes the changed model rows and the
//     predictions in one transaction; on failure nothing is written and the
//     next cycle runs.
//
// Callable answers arrive from behind the checked challenge boundary
// (wire.Checked, applied by host.Challenge to the plugin and to the
// defaults alike), which normalises them (raw input null becomes {}, scope
// key fallbacks, null scope and kwargs become {}, ...) and refuses wrong
// shapes; the worker does not check them again. A challenge callable error
// (FAILED, CRASHED, TIMEOUT, BAD_IMPLEMENTATION, the latter also for an
// answer the boundary refused) aborts the cycle with a *CycleError naming
// the callable and its status.
//
// Known models are the host's ModelState list plus any model that answered.
// Every model of the host's set gets a row every slot: a model that is
// down, restarting or cooling down gets an ABSENT row, which the score
// worker counts as a non-answer. Departed models (reference defect 14.2
// #16) are those removed from config/models.json: the host no longer knows
// them and they get no rows. With a positive Config.AbsentGrace a model
// down for longer than that gets no more ABSENT rows (the down-since time
// is tracked in memory from the first cycle that sees the model down).
//
// Each SUCCESS answer's validation verdict is reported to the host
// (Models.ConfirmOutput), so invalid outputs count toward the stop rule
// like any other failure.
package predict
