package objects

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Schemes of object URIs.
const (
	SchemeGCS = "gs"
	SchemeS3  = "s3"
)

// MaxKeyBytes is the longest object name both GCS and S3 accept.
const MaxKeyBytes = 1024

// URI names a bucket, a prefix in it, or an object: gs://BUCKET/KEY or
// s3://BUCKET/KEY. The key is taken literally — no percent-decoding — since
// "?", "#" and "%" are legal in object names.
type URI struct {
	Scheme string
	Bucket string
	Key    string
}

// String renders the URI as scheme://bucket/key (scheme://bucket without a
// key).
func (u URI) String() string {
	if u.Key == "" {
		return u.Scheme + "://" + u.Bucket
	}
	return u.Scheme + "://" + u.Bucket + "/" + u.Key
}

// Object returns the URI of key in u's bucket.
func (u URI) Object(key string) URI { return URI{Scheme: u.Scheme, Bucket: u.Bucket, Key: key} }

// URIError says why a string is not an object URI. Reason may quote the
// input, which is a name, never a secret.
type URIError struct {
	Reason string
}

func (e *URIError) Error() string { return "objects: bad URI: " + e.Reason }

func uriErr(format string, args ...any) *URIError {
	return &URIError{Reason: fmt.Sprintf(format, args...)}
}

// ParseURI parses gs://BUCKET[/KEY] or s3://BUCKET[/KEY], checking the
// bucket name against its provider's naming rules and the key against the
// rules both providers share. A trailing "/" after the bucket is allowed and
// means no key.
func ParseURI(s string) (URI, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URI{}, uriErr("must look like gs://BUCKET/OBJECT or s3://BUCKET/KEY")
	}
	if scheme != SchemeGCS && scheme != SchemeS3 {
		return URI{}, uriErr("scheme must be gs:// (Google Cloud Storage) or s3:// (Amazon S3), not %q", scheme+"://")
	}
	bucket, key, _ := strings.Cut(rest, "/")
	u := URI{Scheme: scheme, Bucket: bucket, Key: key}
	if bucket == "" {
		return URI{}, uriErr("has no bucket name after %s://", scheme)
	}
	var err error
	if scheme == SchemeGCS {
		err = checkGCSBucket(bucket)
	} else {
		err = checkS3Bucket(bucket)
	}
	if err != nil {
		return URI{}, err
	}
	if key != "" {
		if err := CheckKey(key); err != nil {
			return URI{}, err
		}
	}
	return u, nil
}

// CheckKey applies the object-name rules GCS and S3 share, and refuses
// what either treats specially: "." and ".." path segments (GCS forbids
// them, HTTP clients normalize them away).
func CheckKey(key string) error {
	switch {
	case key == "":
		return uriErr("has no object name after the bucket")
	case len(key) > MaxKeyBytes:
		return uriErr("object name is longer than %d bytes", MaxKeyBytes)
	case !utf8.ValidString(key):
		return uriErr("object name is not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return uriErr("object name must not contain control characters")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return uriErr(`object name must not contain "." or ".." path segments`)
		}
	}
	return nil
}

// checkGCSBucket follows https://cloud.google.com/storage/docs/buckets#naming.
func checkGCSBucket(b string) error {
	max := 63
	if strings.Contains(b, ".") {
		max = 222
	}
	if len(b) < 3 || len(b) > max {
		return uriErr("GCS bucket name %q must be 3-63 characters (up to 222 with dots)", b)
	}
	if err := bucketChars(b, "GCS", "_"); err != nil {
		return err
	}
	for part := range strings.SplitSeq(b, ".") {
		if len(part) > 63 {
			return uriErr("GCS bucket name %q has a dot-separated part longer than 63 characters", b)
		}
		if part == "" {
			return uriErr("GCS bucket name %q must not contain empty dot-separated parts", b)
		}
	}
	if strings.HasPrefix(b, "goog") || strings.Contains(b, "google") || strings.Contains(b, "g00gle") {
		return uriErr("GCS bucket name %q must not start with \"goog\" or contain \"google\"", b)
	}
	return nil
}

// checkS3Bucket follows the general-purpose bucket rules of
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html.
func checkS3Bucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return uriErr("S3 bucket name %q must be 3-63 characters", b)
	}
	if err := bucketChars(b, "S3", ""); err != nil {
		return err
	}
	if strings.Contains(b, "..") {
		return uriErr("S3 bucket name %q must not contain two adjacent dots", b)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return uriErr("S3 bucket name %q must not start with %q", b, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return uriErr("S3 bucket name %q must not end with %q", b, s)
		}
	}
	return nil
}

// bucketChars checks what both providers require: lowercase letters,
// digits, "-", "." (and extra), starting and ending with a letter or digit,
// and not an IP address.
func bucketChars(b, provider, extra string) error {
	for _, r := range b {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || strings.ContainsRune(extra, r)
		if !ok {
			allowed := `lowercase letters, digits, "-" and "."`
			if extra != "" {
				allowed = `lowercase letters, digits, "-", "_" and "."`
			}
			return uriErr("%s bucket name %q may contain only %s", provider, b, allowed)
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return uriErr("%s bucket name %q must start and end with a letter or digit", provider, b)
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return uriErr("%s bucket name %q must not be an IP address", provider, b)
	}
	return nil
}
