package predict

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/crunch-coordinator/coordinator/internal/jsonx"
)

// KeepRawOutputBytes is the largest invalid output stored verbatim (as
// raw_output) in its FAILED row; a bigger one is stored as its first
// characters, size and SHA-256 only.
const KeepRawOutputBytes = 1024

// MaxErrorBytes bounds an error text stored in a row or logged for a
// model call (a model or validator controls it).
const MaxErrorBytes = 1024

// invalidRecord is the inference output stored in place of an output that
// failed validation: the validator's message and a bounded trace of the
// output, so neither the database nor the log grows with what a model
// sends (host.Options.MaxOutputBytes bounds what reaches here).
type invalidRecord struct {
	Error string `json:"_validation_error"`
	// Raw is the output itself when at most KeepRawOutputBytes.
	Raw json.RawMessage `json:"raw_output,omitempty"`
	// Head is its first characters (jsonx.Abbreviate).
	Head   string `json:"raw_output_head"`
	Bytes  int    `json:"raw_output_bytes"`
	SHA256 string `json:"raw_output_sha256"`
}

func invalidOutput(msg string, out json.RawMessage) invalidRecord {
	sum := sha256.Sum256(out)
	r := invalidRecord{Error: boundText(msg), Head: jsonx.Abbreviate(out), Bytes: len(out), SHA256: hex.EncodeToString(sum[:])}
	if len(out) <= KeepRawOutputBytes && json.Valid(out) {
		r.Raw = out
	}
	return r
}

// boundText cuts s to at most MaxErrorBytes bytes (on a UTF-8 boundary),
// marking the cut with "…".
func boundText(s string) string {
	if len(s) <= MaxErrorBytes {
		return s
	}
	cut := MaxErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
