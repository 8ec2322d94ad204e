package fileerr

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestError(t *testing.T) {
	err := fmt.Errorf("load: %w", In("/n/config/models.json", fmt.Errorf("models[0].id: required: %w", fs.ErrInvalid)))
	var fe *Error
	if !errors.As(err, &fe) || fe.File != "/n/config/models.json" || fe.Err.Error() != "models[0].id: required: invalid argument" {
		t.Fatalf("errors.As: %+v", fe)
	}
	if err.Error() != "load: /n/config/models.json: models[0].id: required: invalid argument" || !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("text %q", err)
	}
	if In("x", nil) != nil {
		t.Error("In(file, nil) must be nil")
	}
}
