package objects

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseURI: any string either parses into a URI that renders back to
// itself and re-parses to the same value, or is refused with a URIError;
// parsing never panics.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"gs://bucket/object", "s3://my-bucket/a/b/c.txt", "gs://bucket", "s3://bucket/",
		"gs://goog-bucket/x", "s3://192.168.0.1/x", "gs://b/../x", "s3://b/a?b#c%20",
		"gs:///x", "http://bucket/x", "gs://Bucket/x", "s3://b/\x00", "gs://b/" + strings.Repeat("k", 1100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			var ue *URIError
			if !errors.As(err, &ue) || ue.Reason == "" {
				t.Fatalf("refusal is not a URIError with a reason: %T %v", err, err)
			}
			return
		}
		if u.Scheme != "gs" && u.Scheme != "s3" || u.Bucket == "" || !utf8.ValidString(u.Key) {
			t.Fatalf("accepted a malformed URI %q as %+v", s, u)
		}
		again, err := ParseURI(u.String())
		if err != nil || again != u {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, u, u.String(), again, err)
		}
	})
}
