// Package fileerr is the error type of a problem found in one file: it
// keeps the file's path apart from what is wrong, so a checker (doctor)
// can say where without parsing the message.
package fileerr

// Error is a problem in the file File: Err says what (and where inside the
// file, e.g. "models[2].id: required").
type Error struct {
	File string
	Err  error
}

// Error renders "<file>: <problem>".
func (e *Error) Error() string { return e.File + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// In returns err as a problem of file (nil for nil).
func In(file string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{File: file, Err: err}
}
