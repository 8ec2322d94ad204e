// Package redact hides passwords in database URLs, DSNs and HTTP URLs
// before they reach an error message or a log line.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every password.
const Mask = "xxxxx"

var (
	dsnPassword      = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)
	userInfoPassword = regexp.MustCompile(`(://[^:/@\s]*:)([^@\s]*)(@)`)
)

// URL returns raw with any password replaced by Mask: the user-info
// password of a URL (postgres://user:secret@host → user:xxxxx@host), a
// password query parameter, or password=... in a key=value DSN. Text that
// does not parse as a URL is redacted by pattern (user:password@ and
// password=...). Other text is returned unchanged.
func URL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), Mask)
			}
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", Mask)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	raw = userInfoPassword.ReplaceAllString(raw, "${1}"+Mask+"${3}")
	return dsnPassword.ReplaceAllString(raw, "${1}"+Mask)
}

// Password extracts the password of a URL or DSN ("" when none), so that
// callers can scrub it from driver error texts that echo it.
func Password(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
		}
		return u.Query().Get("password")
	}
	if m := userInfoPassword.FindStringSubmatch(raw); m != nil {
		return m[2]
	}
	if m := dsnPassword.FindStringSubmatch(raw); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}
