package proxy

import (
	"net/url"
	"regexp"
	"strings"

	"connectors.dev/connectors/shared/httpx"
)

// Path is a caller's path below a connector's apiBaseUrl, checked and
// cleaned: its segments in the caller's own escaping (an encoded slash
// inside a segment, as in a GCS object name, stays encoded and inside its
// segment), empty segments removed, nothing that could climb out of the
// base path.
type Path struct {
	escaped string // segments joined by "/", no leading slash
	slash   bool   // the caller's path ended in "/"
}

// Escaped is the cleaned path, as sent below the base path.
func (p Path) Escaped() string {
	if p.slash && p.escaped != "" {
		return p.escaped + "/"
	}
	return p.escaped
}

// Hard limits on a caller's path; the request line has its own.
const maxPathLen = 8 << 10

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// CleanPath checks rel, the escaped path the caller sent after the
// connector's name, and cleans it. Refused (400 on "path"), nothing sent:
// a "." or ".." segment in any encoding (%2e, %252e, …), a segment that
// decodes to one with a slash or backslash around a dot segment ("..%2f"),
// backslashes, invalid escapes, an absolute or protocol-relative URL, and
// control characters.
func CleanPath(rel string) (Path, error) {
	if len(rel) > maxPathLen {
		return Path{}, pathError("must be at most %d characters", maxPathLen)
	}
	if plainPath(rel) {
		// The common case, checked in one pass: nothing to decode, no dot
		// or empty segment, nothing that could read as a URL.
		rel = strings.TrimPrefix(rel, "/")
		return Path{escaped: strings.TrimSuffix(rel, "/"), slash: strings.HasSuffix(rel, "/")}, nil
	}
	if strings.ContainsRune(rel, '\\') {
		return Path{}, pathError("must not contain a backslash")
	}
	decoded, ok := decodeAll(rel)
	if !ok {
		return Path{}, pathError("has an invalid percent-encoding")
	}
	if strings.HasPrefix(decoded, "//") || strings.HasPrefix(decoded, `\\`) || schemeRE.MatchString(strings.TrimLeft(decoded, "/")) && strings.Contains(decoded, "//") {
		return Path{}, pathError("must be a path below the connector's apiBaseUrl, not a URL")
	}
	var segs []string
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" {
			continue // "//" cleaned to "/"
		}
		d, ok := decodeAll(seg)
		if !ok {
			return Path{}, pathError("has an invalid percent-encoding")
		}
		for _, part := range strings.FieldsFunc(d, func(r rune) bool { return r == '/' || r == '\\' }) {
			if part == "." || part == ".." {
				return Path{}, pathError("must not contain . or .. segments, in any encoding: requests stay below the connector's apiBaseUrl")
			}
		}
		if strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return Path{}, pathError("must not contain control characters")
		}
		segs = append(segs, seg)
	}
	return Path{escaped: strings.Join(segs, "/"), slash: len(segs) > 0 && strings.HasSuffix(rel, "/")}, nil
}

// plainPath reports whether rel is made of plain segments only: no percent
// sign, backslash, colon or control character, no empty segment inside it,
// no "." or ".." segment. CleanPath keeps such a path as it is.
func plainPath(rel string) bool {
	start := 0
	if strings.HasPrefix(rel, "/") {
		start = 1
	}
	segStart := start
	for i := start; i <= len(rel); i++ {
		if i < len(rel) {
			c := rel[i]
			if c == '%' || c == '\\' || c == ':' || c < 0x20 || c == 0x7f {
				return false
			}
			if c != '/' {
				continue
			}
		}
		seg := rel[segStart:i]
		if seg == "." || seg == ".." || (seg == "" && i < len(rel) && i > start) || (seg == "" && i == start && i < len(rel)) {
			return false
		}
		segStart = i + 1
	}
	return len(rel) <= maxPathLen
}

// decodeAll percent-decodes s until it stops changing (at most 4 rounds):
// an upstream or a front end that decodes twice must not see a dot segment
// that the first decoding hid.
func decodeAll(s string) (string, bool) {
	for range 4 {
		if !strings.Contains(s, "%") {
			return s, true
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		if d == s {
			return s, true
		}
		s = d
	}
	return s, !strings.Contains(s, "%")
}

func pathError(format string, args ...any) error {
	return httpx.FieldError("path", format, args...)
}

// Join returns the URL a call goes to: base (a connector's apiBaseUrl,
// validated when it was stored) with p below its path, and the caller's
// query. The base path is a directory: "https://api/v2" and
// "https://api/v2/" both put "users" at "/v2/users".
func Join(base *url.URL, p Path, rawQuery string) *url.URL {
	u := *base
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	prefix := base.EscapedPath()
	if rel := p.Escaped(); rel != "" {
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		prefix += rel
	} else if prefix == "" {
		prefix = "/"
	}
	u.RawPath = prefix
	u.Path, _ = url.PathUnescape(prefix) // the segments decoded once already
	u.RawQuery = rawQuery
	u.ForceQuery = false
	return &u
}
