package connector

import (
	"net/url"
	"strings"
)

// validateAPIBaseURL checks apiBaseUrl, the origin and path prefix the proxy
// sends the connector's credential to: the same destination rules as url,
// no query (the caller's query is appended), and a plain path, so that the
// prefix the proxy keeps requests under is the one the admin reads.
func validateAPIBaseURL(raw string, opts Options) *FieldError {
	if raw == "" {
		return nil
	}
	if len(raw) > MaxURLLen {
		return fieldErr("apiBaseUrl", "must be at most %d characters", MaxURLLen)
	}
	if msg := endpointProblem(raw, opts, "the proxy sends the connector's own credential"); msg != "" {
		return fieldErr("apiBaseUrl", "%s", msg)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return fieldErr("apiBaseUrl", "must be an absolute https URL")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return fieldErr("apiBaseUrl", "must not have a query: the caller's query is appended to each request")
	}
	if msg := basePathProblem(u.EscapedPath()); msg != "" {
		return fieldErr("apiBaseUrl", "%s", msg)
	}
	return nil
}

// basePathProblem refuses the path forms that would make "under this
// prefix" ambiguous: dot segments, empty segments, backslashes and
// percent-encoded dots, slashes or backslashes.
func basePathProblem(p string) string {
	if strings.Contains(p, `\`) {
		return "path must not contain a backslash"
	}
	lower := strings.ToLower(p)
	for _, enc := range []string{"%2e", "%2f", "%5c"} {
		if strings.Contains(lower, enc) {
			return "path must not contain an encoded dot, slash or backslash (" + enc + ")"
		}
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return "path must not contain . or .. segments"
		case s == "" && i < len(segs)-1:
			return "path must not contain empty segments (//)"
		}
	}
	return ""
}

// Origin returns the scheme and host of an endpoint URL, lowercased, or ""
// when raw is empty or not a URL: the party a credential sent there reaches.
func Origin(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
