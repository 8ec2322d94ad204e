package slug_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/slug"
)

func TestCheck(t *testing.T) {
	for _, s := range []string{"a", "m1", "mean-reversion", "py-trend-2", strings.Repeat("a", slug.MaxLen)} {
		if err := slug.Check("model id", s); err != nil || !slug.Valid(s) {
			t.Errorf("%q: want valid, got %v", s, err)
		}
	}
	for _, s := range []string{"", "../../../../tmp/x", "..", ".hidden", "a/b", `a\b`, "A", "a_b", "a--b", "-a", "a-", "a b", "a\x00", "é", strings.Repeat("a", slug.MaxLen+1)} {
		err := slug.Check("model id", s)
		if err == nil || slug.Valid(s) || !errors.Is(err, slug.ErrInvalid) || !strings.HasPrefix(err.Error(), "model id") {
			t.Errorf("%q: want an invalid-slug error naming the model id, got %v", s, err)
		}
	}
}
