package proxy_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/proxy"
)

func TestCleanPath(t *testing.T) {
	base, _ := url.Parse("https://api.example.com/gmail/v1/")
	ok := map[string]string{
		"":                      "/gmail/v1/",
		"users/me":              "/gmail/v1/users/me",
		"users/me/":             "/gmail/v1/users/me/",
		"users///me":            "/gmail/v1/users/me",
		"/users":                "/gmail/v1/users",
		"o/folder%2Ffile.txt":   "/gmail/v1/o/folder%2Ffile.txt",
		"a%20b/c":               "/gmail/v1/a%20b/c",
		"models/gemini:predict": "/gmail/v1/models/gemini:predict",
		"...":                   "/gmail/v1/...",
		"a..b/.c/..d":           "/gmail/v1/a..b/.c/..d",
	}
	for rel, want := range ok {
		p, err := proxy.CleanPath(rel)
		if err != nil {
			t.Errorf("%q: %v", rel, err)
			continue
		}
		u := proxy.Join(base, p, "q=1")
		if u.EscapedPath() != want || u.Host != "api.example.com" || u.RawQuery != "q=1" {
			t.Errorf("%q: %s, want path %s", rel, u, want)
		}
	}
	for _, rel := range []string{
		"..", "../admin", "a/../../admin", ".", "./a", "a/.", "%2e%2e", "%2E%2e/admin", ".%2e", "%2e",
		"..%2fadmin", "a%2f..%2f..%2fadmin", "%252e%252e/admin", "%25252e%25252e", "a%5c..%5cadmin",
		`a\..\b`, `a\b`, "https://evil.example.com/", "http:%2f%2fevil.example.com/", "https%3A%2F%2Fevil.example.com",
		"%2f%2fevil.example.com/x", "//evil.example.com/x", "%zz", "a%", "a%0ab", "a%00b", strings.Repeat("a", 9000),
	} {
		_, err := proxy.CleanPath(rel)
		var he *httpx.Error
		if !errors.As(err, &he) || he.Status != 400 || he.Field != "path" || he.Message == "" {
			t.Errorf("%q: got %v, want 400 on path", rel, err)
		}
	}
}

// The base path is a directory whether or not it ends in "/".
func TestJoinBaseWithoutSlash(t *testing.T) {
	for _, b := range []string{"https://api.example.com/v2", "https://api.example.com/v2/"} {
		base, _ := url.Parse(b)
		p, _ := proxy.CleanPath("users")
		if got := proxy.Join(base, p, "").String(); got != "https://api.example.com/v2/users" {
			t.Errorf("%s + users = %s", b, got)
		}
	}
	base, _ := url.Parse("https://api.example.com")
	p, _ := proxy.CleanPath("")
	if got := proxy.Join(base, p, "").String(); got != "https://api.example.com/" {
		t.Errorf("origin only: %s", got)
	}
}

// FuzzCleanPath: whatever a caller sends, an accepted path lands below the
// base path on the base's host, and no decoding of it, however many times
// repeated, shows a dot segment.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"users/me", "../x", "%2e%2e/x", "a%2fb", "a//b/", "%252e", "https://x/", `a\b`, ".%2E/"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://api.example.com/base/v1/")
	f.Fuzz(func(t *testing.T, rel string) {
		p, err := proxy.CleanPath(rel)
		if err != nil {
			if errkind.Of(err) == nil && !isHTTPError(err) {
				t.Fatalf("%q: an error without a status: %v", rel, err)
			}
			return
		}
		u := proxy.Join(base, p, "")
		if u.Host != "api.example.com" || u.Scheme != "https" || u.User != nil {
			t.Fatalf("%q: left the host: %s", rel, u)
		}
		esc := u.EscapedPath()
		if !strings.HasPrefix(esc, "/base/v1/") {
			t.Fatalf("%q: left the base path: %s", rel, esc)
		}
		s := esc
		for range 5 {
			for _, seg := range strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '\\' }) {
				if seg == "." || seg == ".." {
					t.Fatalf("%q: a dot segment after decoding: %s", rel, s)
				}
			}
			d, err := url.PathUnescape(s)
			if err != nil || d == s {
				break
			}
			s = d
		}
		if _, err := url.Parse(u.String()); err != nil {
			t.Fatalf("%q: the URL does not parse back: %v", rel, err)
		}
	})
}

func isHTTPError(err error) bool {
	var he *httpx.Error
	return errors.As(err, &he)
}
