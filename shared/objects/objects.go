// Package objects is a small, portable interface to object storage — Google
// Cloud Storage and Amazon S3 — addressed by gs:// and s3:// URIs: list,
// read, write, delete, signed URLs, bucket creation and bucket access
// grants. It is what the files function needs and no more.
//
// The backends live in subpackages (gcsobjects, s3objects) and pass one
// conformance suite (objecttest), in the manner of gocloud.dev/blob. Their
// errors wrap this package's sentinels in an *Error carrying the object's
// URI, so callers never see a provider SDK's error types, and so that the
// HTTP edge can map them to statuses. This package imports no provider SDK
// for the same reason: mapping its errors must not link one into every
// function.
package objects

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"connectors.dev/connectors/shared/errkind"
)

// Errors the backends wrap. A backend error wraps exactly one of them, or
// none when the provider failed in a way it could not classify.
var (
	// ErrNotFound: the object or bucket does not exist.
	ErrNotFound = sentinel(errkind.NotFound, "not found", "", "not found: %s")
	// ErrPermissionDenied: the provider refused the credentials for this
	// resource (missing IAM role, bad or revoked key).
	ErrPermissionDenied = sentinel(errkind.PermissionDenied, "permission denied", "", "the storage provider denied access to %s")
	// ErrExists: the bucket to create exists already (here or anywhere:
	// bucket names are global).
	ErrExists = sentinel(errkind.AlreadyExists, "already exists", "uri", "already exists: %s (bucket names are global)")
	// ErrTooLarge: an object exceeds a size limit.
	ErrTooLarge = sentinel(errkind.TooLarge, "too large", "", "the storage provider refused the object as too large: %s")
	// ErrUnsupported: the backend cannot do this operation at all.
	ErrUnsupported = sentinel(errkind.InvalidArgument, "operation not supported", "op", "this operation is not supported for %s")
	// ErrCannotSign: the backend's credentials cannot sign URLs (default
	// credentials without a service-account identity).
	ErrCannotSign = sentinel(errkind.FailedPrecondition, "credentials cannot sign URLs", "", "the credentials in use cannot sign URLs for %s; use a connector with a service-account key")
	// ErrInvalid: the provider rejected the request as malformed (an
	// invalid page token, location, member or role).
	ErrInvalid = sentinel(errkind.InvalidArgument, "rejected as invalid", "", "the storage provider rejected the request for %s as invalid")
	// ErrUnavailable: the provider could not be reached, timed out or
	// answered with a server error; the caller may retry.
	ErrUnavailable = sentinel(errkind.Unavailable, "storage unavailable", "", "the storage provider is unavailable for %s; retry later")
	// ErrConflict: a concurrent change won (e.g. an IAM policy changed
	// between read and write too often).
	ErrConflict = sentinel(errkind.Conflict, "concurrent change", "", "a concurrent change to %s won; retry")
)

// StatusKind is the sentinel for a storage service's HTTP error status,
// the same for every provider; nil for a status that is no error.
func StatusKind(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrPermissionDenied
	case status == http.StatusConflict:
		return ErrExists
	case status == http.StatusPreconditionFailed:
		return ErrConflict
	case status == http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case status == http.StatusTooManyRequests || status >= 500:
		return ErrUnavailable
	case status >= 300:
		return ErrInvalid
	}
	return nil
}

// Error is a backend error: the operation, the URI it was about, the
// sentinel that classifies it and the provider's error. Neither URI nor the
// provider's message contains credentials.
type Error struct {
	Op   string
	URI  string
	Kind error // one of the sentinels, or nil
	Err  error // the provider's error, or nil
}

func (e *Error) Error() string {
	msg := "objects: " + e.Op + " " + e.URI
	if e.Kind != nil {
		msg += ": " + e.Kind.Error()
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the sentinel and the provider's error, so errors.Is finds
// either.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// LimitError says by how much a size limit was exceeded; it is ErrTooLarge.
type LimitError struct {
	Size  int64 // the size seen, or -1 when only "more than Limit" is known
	Limit int64
}

func (e *LimitError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("more than the limit of %d bytes", e.Limit)
	}
	return fmt.Sprintf("%d bytes, over the limit of %d bytes", e.Size, e.Limit)
}

// Is makes a LimitError match ErrTooLarge.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// Attrs describe an object.
type Attrs struct {
	Bucket  string
	Key     string
	Size    int64
	Updated time.Time
	// ContentType is empty when the provider's listing does not report it
	// (S3's ListObjectsV2 does not); Read and Write always set it.
	ContentType string
}

// Reader is an object's body, streamed from the provider, and its
// attributes. The caller must close Body.
type Reader struct {
	Attrs Attrs
	// Length is the number of bytes Body yields, or -1 when the provider
	// did not say (a decompressing read).
	Length int64
	Body   io.ReadCloser
}

// ListOptions select a page of a bucket's objects.
type ListOptions struct {
	// Prefix keeps only keys that start with it; empty lists everything.
	Prefix string
	// PageSize is the most objects returned; DefaultPageSize when zero.
	PageSize int
	// PageToken is the previous page's NextPageToken; empty for the first.
	PageToken string
}

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of a listing, in key order.
type Page struct {
	Objects []Attrs
	// NextPageToken is opaque and provider-specific; empty on the last
	// page.
	NextPageToken string
}

// WriteOptions describe an object being written.
type WriteOptions struct {
	// ContentType is stored with the object; DefaultContentType when
	// empty.
	ContentType string
	// Size is the body's length when known, else -1. Backends that must
	// know it in advance (S3 signs the payload) buffer bodies without it.
	Size int64
}

// DefaultContentType is stored for objects written without a content type.
const DefaultContentType = "application/octet-stream"

// Signing methods and bounds. Seven days is what both GCS and S3 allow for
// V4 signatures.
const (
	MethodGet        = "GET"
	MethodPut        = "PUT"
	MaxSignedExpiry  = 7 * 24 * time.Hour
	DefaultSignedTTL = 15 * time.Minute
)

// SignOptions describe a signed URL.
type SignOptions struct {
	// Method is MethodGet (download) or MethodPut (upload).
	Method string
	// Expires is how long the URL is valid, at most MaxSignedExpiry.
	Expires time.Duration
	// ContentType, for PUT, is the Content-Type the upload must carry; it
	// becomes part of the signature.
	ContentType string
}

// BucketOptions describe a bucket being created.
type BucketOptions struct {
	// Location is the GCS location or the S3 region; the backend's default
	// when empty.
	Location string
}

// Grant gives Member Role on a bucket (IAM terms: "serviceAccount:x@p.iam.gserviceaccount.com",
// "roles/storage.objectAdmin").
type Grant struct {
	Member string
	Role   string
}

// Client is the portable interface every backend implements. Keys are the
// objects' full names; buckets are bare names (no scheme). Every error is an
// *Error; operations on a missing bucket or object wrap ErrNotFound.
type Client interface {
	// List returns a page of the objects in bucket whose keys start with
	// opts.Prefix.
	List(ctx context.Context, bucket string, opts ListOptions) (*Page, error)
	// Read opens an object for streaming; nothing is buffered.
	Read(ctx context.Context, bucket, key string) (*Reader, error)
	// Write stores body as the object, replacing any previous one. A body
	// that fails mid-way leaves the previous object (or none) in place.
	Write(ctx context.Context, bucket, key string, body io.Reader, opts WriteOptions) (*Attrs, error)
	// Delete removes an object; ErrNotFound when it does not exist.
	Delete(ctx context.Context, bucket, key string) error
	// Sign returns a V4 signed URL that lets its holder GET or PUT the
	// object until it expires, without credentials of their own.
	Sign(ctx context.Context, bucket, key string, opts SignOptions) (string, error)
	// CreateBucket creates a bucket; ErrExists when the name is taken.
	CreateBucket(ctx context.Context, bucket string, opts BucketOptions) error
	// GrantAccess adds g to the bucket's access policy; granting what is
	// already granted succeeds and changes nothing. ErrUnsupported where
	// the provider has no such notion.
	GrantAccess(ctx context.Context, bucket string, g Grant) error
	// Close releases the client's resources.
	Close() error
}
