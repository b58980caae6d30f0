package objects

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	good := map[string]URI{
		"gs://my-bucket":                  {SchemeGCS, "my-bucket", ""},
		"gs://my-bucket/":                 {SchemeGCS, "my-bucket", ""},
		"gs://my_bucket.example.com/a/b":  {SchemeGCS, "my_bucket.example.com", "a/b"},
		"s3://logs-2024/x/y.json":         {SchemeS3, "logs-2024", "x/y.json"},
		"s3://abc/q?a=b#f%20":             {SchemeS3, "abc", "q?a=b#f%20"},
		"gs://abc/dir/":                   {SchemeGCS, "abc", "dir/"},
		"gs://abc/a//b":                   {SchemeGCS, "abc", "a//b"},
		"s3://abc/ünïcode 🙂":              {SchemeS3, "abc", "ünïcode 🙂"},
		"gs://" + strings.Repeat("a", 63): {SchemeGCS, strings.Repeat("a", 63), ""},
	}
	for in, want := range good {
		got, err := ParseURI(in)
		if err != nil || got != want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if want.Key != "" && got.String() != in {
			t.Errorf("String() = %q, want %q", got.String(), in)
		}
	}
	bad := map[string]string{
		"":                                "gs://BUCKET",
		"my-bucket/key":                   "gs://BUCKET",
		"http://bucket/key":               "scheme must be",
		"GS://bucket/key":                 "scheme must be",
		"gs://":                           "no bucket",
		"gs:///key":                       "no bucket",
		"gs://ab":                         "3-63",
		"gs://" + strings.Repeat("a", 64): "3-63",
		"gs://My-Bucket":                  "lowercase",
		"gs://-bucket":                    "start and end",
		"gs://bucket-":                    "start and end",
		"gs://192.168.1.1":                "IP address",
		"gs://googbucket":                 "goog",
		"gs://my-google-bucket":           "google",
		"gs://a..b":                       "empty dot-separated",
		"s3://my_bucket":                  "lowercase letters, digits, \"-\" and \".\"",
		"s3://a..bc":                      "adjacent dots",
		"s3://xn--bucket":                 "must not start",
		"s3://bucket-s3alias":             "must not end",
		"s3://bucket/a\nb":                "control",
		"s3://bucket/a\x00b":              "control",
		"gs://bucket/" + "\xff":           "UTF-8",
		"gs://bucket/a/../b":              `".."`,
		"gs://bucket/.":                   `"."`,
		"gs://bucket/" + strings.Repeat("k", 1025): "longer than 1024",
	}
	for in, want := range bad {
		_, err := ParseURI(in)
		var ue *URIError
		if !errors.As(err, &ue) || !strings.Contains(ue.Reason, want) {
			t.Errorf("ParseURI(%q) = %v, want a URIError mentioning %q", in, err, want)
		}
	}
}

func TestErrorWrapsKindAndCause(t *testing.T) {
	cause := errors.New("provider said no")
	err := error(&Error{Op: "read", URI: "gs://b/k", Kind: ErrNotFound, Err: cause})
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, cause) || errors.Is(err, ErrExists) {
		t.Fatal("Is does not see through Error")
	}
	if got := err.Error(); got != "objects: read gs://b/k: not found: provider said no" {
		t.Fatalf("Error() = %q", got)
	}
	var le error = &LimitError{Size: 10, Limit: 5}
	if !errors.Is(le, ErrTooLarge) || le.Error() != "10 bytes, over the limit of 5 bytes" {
		t.Fatalf("LimitError: %v", le)
	}
}

func TestStatusKind(t *testing.T) {
	for status, want := range map[int]error{
		200: nil, 204: nil,
		301: ErrInvalid, 400: ErrInvalid, 405: ErrInvalid,
		401: ErrPermissionDenied, 403: ErrPermissionDenied,
		404: ErrNotFound, 409: ErrExists, 412: ErrConflict, 413: ErrTooLarge,
		429: ErrUnavailable, 500: ErrUnavailable, 503: ErrUnavailable,
	} {
		if got := StatusKind(status); got != want {
			t.Errorf("StatusKind(%d) = %v, want %v", status, got, want)
		}
	}
}
