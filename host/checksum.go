package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxPythonCodeFiles bounds the .py files PythonCodeSHA256 hashes in one
// model directory.
const MaxPythonCodeFiles = 10000

// FileSHA256 returns the lowercase hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// PythonCodeSHA256 is the checksum a Python model is pinned and verified
// by: the SHA-256 of the lines "<sha256 of file>  ./<path>\n" (sha256sum's
// format) of every regular *.py file under dir, recursively, skipping
// __pycache__ and directories whose name starts with ".", sorted by path
// in byte order. It equals
//
//	cd <dir> && find . -name '.?*' -prune -o -name __pycache__ -prune -o -type f -name '*.py' -print0 \
//	  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum
//
// It covers the model's own code, not the interpreter or installed
// packages. Errors name dir; more than MaxPythonCodeFiles files is an
// error.
func PythonCodeSHA256(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (d.Name() == "__pycache__" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".py") {
			return nil
		}
		if len(files) >= MaxPythonCodeFiles {
			return fmt.Errorf("more than %d .py files", MaxPythonCodeFiles)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, "./"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash Python model directory %s: %w", dir, err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		sum, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("hash Python model directory %s: %w", dir, err)
		}
		fmt.Fprintf(h, "%s  %s\n", sum, f)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkSum compares the SHA-256 of what is about to run (got, computed from
// path) with the expected checksum want (64 hex digits; empty: no check).
// The error wraps ErrChecksumPin and names the file and both checksums.
func checkSum(path, want string, sum func(string) (string, error)) error {
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		return nil
	}
	if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w: expected SHA-256 %q for %s is not 64 hex digits", ErrChecksumPin, want, path)
	}
	got, err := sum(path)
	if err != nil {
		return fmt.Errorf("%w: hashing %s: %w", ErrChecksumPin, path, err)
	}
	if got != want {
		return fmt.Errorf("%w: %s has SHA-256 %s, expected %s (the lock file or pin); refusing to run it: rebuild it, or update the pin if the change is yours", ErrChecksumPin, path, got, want)
	}
	return nil
}
