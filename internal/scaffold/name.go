package scaffold

import (
	"fmt"
	"go/token"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/slug"
)

// Name length limits (characters) of a challenge slug.
const (
	MinNameLen = 2
	MaxNameLen = 40
)

// ValidateName checks a challenge slug (internal/slug) of 2–40 characters:
// lowercase letters, digits and single hyphens, no leading or trailing hyphen. A valid slug is
// always a single safe path segment.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("challenge name required: pass <name> or set name in --spec/--answers")
	}
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fmt.Errorf("name %q: expected %d to %d characters, found %d", name, MinNameLen, MaxNameLen, len(name))
	}
	if !slug.Valid(name) {
		return fmt.Errorf("name %q: expected a lowercase slug of letters, digits and single hyphens, with no leading or trailing hyphen (e.g. btc-up)", name)
	}
	return nil
}

// predeclared are Go's predeclared identifiers; a package named like one
// would shadow it.
var predeclared = map[string]bool{
	"any": true, "append": true, "bool": true, "byte": true, "cap": true, "clear": true, "close": true,
	"comparable": true, "complex": true, "complex64": true, "complex128": true, "copy": true,
	"delete": true, "error": true, "false": true, "float32": true, "float64": true, "imag": true,
	"int": true, "int8": true, "int16": true, "int32": true, "int64": true, "iota": true, "len": true,
	"make": true, "max": true, "min": true, "new": true, "nil": true, "panic": true, "print": true,
	"println": true, "real": true, "recover": true, "rune": true, "string": true, "true": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true, "uintptr": true,
	// Names the generated code imports or uses as package names.
	"sdk": true, "sdktest": true, "main": true, "challenge": true,
}

// PackageName derives the Go package name of the challenge package from a
// valid slug: the slug without hyphens ("btc-up" → "btcup"), prefixed with
// "crunch" when that would start with a digit, be a Go keyword or a
// predeclared identifier, or clash with a package the generated code uses
// ("9lives" → "crunch9lives", "go" → "crunchgo").
func PackageName(slug string) string {
	p := strings.ReplaceAll(slug, "-", "")
	if p == "" || (p[0] >= '0' && p[0] <= '9') || token.IsKeyword(p) || predeclared[p] {
		p = "crunch" + p
	}
	return p
}
