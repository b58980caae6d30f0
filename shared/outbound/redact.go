package outbound

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// redactedText replaces a secret found in an upstream's text.
const redactedText = "[redacted]"

// Redactor removes a caller's secret values from upstream-supplied text.
// Providers have been seen to echo the request in their error texts, in
// any of the encodings the request used, so With searches each secret raw,
// form-encoded, path-encoded, JSON-escaped and base64-encoded; WithExact
// adds texts searched only as given (the Basic credentials as sent, say).
// Matching ignores ASCII case, since percent-encoding and hex are
// case-insensitive on the way back. Secrets are redacted whatever their
// length: a very short secret can mangle the text, which beats leaking it.
//
// The zero value redacts nothing but still cleans (see Clean). Methods
// return a new Redactor and leave the receiver as it was.
type Redactor struct {
	needles []string // longest first, so a secret is replaced before its parts
	// extra, when set, is a further redaction run after the needles' each
	// time they are searched (see SanitizeFunc).
	extra func(string) string
}

// Sanitize makes upstream-supplied text (an error code or description) safe
// to show and log: each secret is replaced by "[redacted]" in every encoding
// a request may have carried it in (raw, form- and path-encoded,
// JSON-escaped, base64 in its four variants), ignoring ASCII case, both
// before and after control and format characters (which could split a
// secret) are removed; invalid UTF-8 is dropped, whitespace collapsed to
// single spaces, and the result truncated to max runes (with "…" appended
// when cut). Empty secrets are ignored; others are redacted whatever their
// length.
func Sanitize(s string, max int, secrets ...string) string {
	return Redactor{}.With(secrets...).Clean(s, max)
}

// SanitizeFunc is Sanitize with a caller-specific redaction added: redact
// (nil means none) runs after the secrets are replaced, each of the two
// times they are searched, for texts a caller wants gone that are not known
// values (tokens recognised by their shape, say).
func SanitizeFunc(s string, max int, redact func(string) string, secrets ...string) string {
	r := Redactor{}.With(secrets...)
	r.extra = redact
	return r.Clean(s, max)
}

// With returns a Redactor that also removes secrets in every encoding.
// Empty secrets are ignored.
func (r Redactor) With(secrets ...string) Redactor {
	var variants []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		variants = append(variants, s, url.QueryEscape(s), url.PathEscape(s), jsonEscaped(s, true), jsonEscaped(s, false))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			variants = append(variants, enc.EncodeToString([]byte(s)))
		}
	}
	return r.WithExact(variants...)
}

// WithExact returns a Redactor that also removes each needle as given
// (ignoring ASCII case). Empty needles are ignored.
func (r Redactor) WithExact(needles ...string) Redactor {
	out := slices.Clone(r.needles)
	for _, n := range needles {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return Redactor{needles: out, extra: r.extra}
}

func jsonEscaped(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSpace(buf.String())
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

func (r Redactor) redact(s string) string {
	for _, n := range r.needles {
		s = replaceFoldASCII(s, n, redactedText)
	}
	if r.extra != nil {
		s = r.extra(s)
	}
	return s
}

// replaceFoldASCII replaces every occurrence of old in s, ignoring ASCII
// case. Folding only ASCII keeps byte offsets identical in the folded copy.
func replaceFoldASCII(s, old, repl string) string {
	if old == "" || len(old) > len(s) {
		return s
	}
	ls, lo := lowerASCII(s), lowerASCII(old)
	var b strings.Builder
	start := 0
	for {
		i := strings.Index(ls[start:], lo)
		if i < 0 {
			break
		}
		b.WriteString(s[start : start+i])
		b.WriteString(repl)
		start += i + len(old)
	}
	if start == 0 {
		return s
	}
	b.WriteString(s[start:])
	return b.String()
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Clean makes upstream text safe to show and log: secrets redacted (before
// and after removing control and format characters, which could otherwise
// split a secret), invalid UTF-8 dropped, whitespace collapsed, truncated
// to max runes (with "…" appended when cut).
func (r Redactor) Clean(s string, max int) string {
	s = r.redact(strings.ToValidUTF8(s, ""))
	s = strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return ' '
		case unicode.IsControl(c) || unicode.Is(unicode.Cf, c):
			return -1
		}
		return c
	}, s)
	s = r.redact(strings.Join(strings.Fields(s), " "))
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return s
}
