// Package modelrunner is the host side of CrunchDAO's model-runner protocol
// (reference-system.md §6): the Variant encoding of arguments and results
// (§6.2) and a client for dynamic_subclass.DynamicSubclassService (Setup,
// Call) with grpc.health.v1 on a second, separate channel opened for each
// health check (§6.1; WaitHealthy checks on the main channel).
//
// # Variant encoding (§6.2)
//
//	NONE    empty                                   null
//	DOUBLE  8 bytes IEEE-754 binary64, little-endian a finite number
//	INT     8 bytes two's-complement, little-endian  an integer
//	STRING  UTF-8                                    a string
//	JSON    UTF-8 JSON text                          any JSON value
//	PARQUET, ARROW                                   refused (ErrUnsupportedVariant)
//
// Non-finite numbers (NaN, ±Inf) are refused before encoding and when
// decoding (ErrNonFinite): Python's JSON writer emits the non-standard
// tokens NaN/Infinity, which count as an invalid output for that call
// (§6.6), not as a broken model.
//
// Predict arguments (JSON values from the call builder) map by their JSON
// kind (§2.3.4, without the reference's crash on booleans and floats):
// string → STRING, integer that fits int64 → INT, any other number →
// DOUBLE, object/array/bool → JSON; null → NONE is refused because the
// reference server cannot receive it.
//
// # One encoding per fan-out
//
// A fan-out sends the same tick input and the same predict arguments to
// every model, so a call is marshaled once (NewTick, NewPredict, kept by
// Requests) and its bytes sent to each runner (Client.Send, through a
// codec that passes them unchanged; content type application/grpc+proto).
//
// # Results and status codes
//
// Setup and Call answer a commons.Status; anything but SUCCESS comes back
// as a *StatusError carrying the code. The host (package host) maps them
// to its classified results: BAD_IMPLEMENTATION → BAD_IMPLEMENTATION;
// INVALID_ARGUMENT and FAILED_PRECONDITION (coordinator misuse) → FAILED,
// not charged to the model; any other code (MODEL_FAILED, SETUP_FAILED, ...)
// → FAILED. A result that does not decode wraps ErrBadOutput → FAILED.
// gRPC errors keep their codes (DeadlineExceeded → TIMEOUT, Unavailable →
// CRASHED), see host.classifyCall.
package modelrunner
