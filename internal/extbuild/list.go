package extbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/extend"
)

// ListCommand is the hidden command of every coordinator binary that
// prints its Listing as JSON (`<bin> extensions --json`).
var ListCommand = []string{"extensions", "--json"}

// Listing is what ListCommand prints: the extensions package linked into
// the binary and the service factories registered in it.
type Listing struct {
	// Linked is the import path of the workspace extensions package
	// linked into the binary ("" in the plain coordinator binary).
	Linked string `json:"linked"`
	// APIVersion is the extend API version the binary provides.
	APIVersion int `json:"api_version"`
	// Factories are extend.Registered(): every registration, refused ones
	// with their error (Registration.Error).
	Factories []extend.Registration `json:"factories"`
}

// Self is the Listing of this process.
func Self() Listing {
	l := Listing{Linked: Linked, APIVersion: extend.APIVersion, Factories: extend.Registered()}
	if l.Factories == nil {
		l.Factories = []extend.Registration{}
	}
	return l
}

// List runs bin's ListCommand (bounded by timeout) and decodes its Listing.
// The error names the binary and carries its stderr.
func List(ctx context.Context, bin string, timeout time.Duration) (Listing, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, ListCommand...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Listing{}, fmt.Errorf("run %s %s: %w: %s", bin, strings.Join(ListCommand, " "), err, strings.TrimSpace(stderr.String()))
	}
	var l Listing
	if err := json.Unmarshal(stdout.Bytes(), &l); err != nil {
		return Listing{}, fmt.Errorf("%s %s: expected a JSON listing of the registered factories, found %q: %w", bin, strings.Join(ListCommand, " "), truncate(stdout.String(), 200), err)
	}
	return l, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
