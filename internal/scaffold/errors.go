package scaffold

import (
	"errors"
	"fmt"
)

// InputError is a problem with what the user gave init (name, flag, spec or
// answers file, existing target): the CLI exits with status 2. Other errors
// (I/O while writing) are internal failures. Resolve fills the facts that
// say which input is at fault, so callers (doctor's spec check) never
// parse the message.
type InputError struct {
	Err error
	// Field is the spec key the error is about ("spec_version", "name",
	// "pack", "crunch_id", "checkpoint_interval_seconds", "callables",
	// "scheduled_prediction_configs"), "" when it is about no one field.
	Field string
	// UnknownKey is the key of an unknown-key error ("" otherwise).
	UnknownKey string
	// Source is where the faulty value came from: "--spec FILE",
	// "--answers FILE", "--pack", "<name> argument", "default pack" or
	// "pack ID" (the pack's own schedules); "" when none.
	Source string
	// Reason is the message without the "Source: " prefix.
	Reason string
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(err error) error {
	if err == nil {
		return nil
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	return &InputError{Err: err}
}

// fieldErr is an InputError about field (or, with unknownKey, an unknown
// key) whose value came from source, wrapping cause: "source: cause", or
// just cause when source is empty.
func fieldErr(source, field, unknownKey string, cause error) error {
	err := cause
	if source != "" {
		err = fmt.Errorf("%s: %w", source, cause)
	}
	return &InputError{Err: err, Field: field, UnknownKey: unknownKey, Source: source, Reason: cause.Error()}
}

// IsInputError reports whether err is (or wraps) an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
