// Package slug is the one rule for names that become path segments, file
// names or log keys: model ids of config/models.json, plugin names and
// challenge names. A slug is 1 to MaxLen characters of lowercase ASCII
// letters and digits separated by single hyphens ("mean-reversion",
// "py-trend-2"), so it can never hold a path separator, "..", a leading
// dot, white space, or a character a shell or a file system treats
// specially.
package slug

import (
	"errors"
	"fmt"
	"regexp"
)

// MaxLen is the longest slug, in characters.
const MaxLen = 64

var re = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ErrInvalid is matched (errors.Is) by every error of Check.
var ErrInvalid = errors.New("not a slug")

// Valid reports whether s is a slug.
func Valid(s string) bool { return len(s) <= MaxLen && re.MatchString(s) }

// Check returns nil when s is a slug, else an error matching ErrInvalid
// that names what (e.g. `model id`) and quotes s (escaped, so control
// characters show).
func Check(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s: required: %w", what, ErrInvalid)
	case len(s) > MaxLen:
		return fmt.Errorf("%s %q: expected at most %d characters, found %d: %w", what, s, MaxLen, len(s), ErrInvalid)
	case !re.MatchString(s):
		return fmt.Errorf("%s %q: expected lowercase letters, digits and single hyphens, with no leading or trailing hyphen (e.g. mean-reversion): %w", what, s, ErrInvalid)
	}
	return nil
}
