// Package gcsobjects is the Google Cloud Storage backend of package
// objects, on cloud.google.com/go/storage over the JSON API.
package gcsobjects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/iam"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/objects"
)

// Options configure a Client.
type Options struct {
	// Endpoint is the JSON API's base URL, for an emulator or a private
	// endpoint, e.g. "http://127.0.0.1:4443/storage/v1/"; a URL without a
	// path gets "/storage/v1/". Empty means Google's.
	Endpoint string
	// Project is the project CreateBucket creates buckets in.
	Project string
	// SignAs is the service account that signs URLs with its own key. When
	// nil, the client's credentials sign: a service-account key from ADC,
	// or the IAM signBlob API as the metadata server's account on GCP.
	SignAs *ServiceAccount
	// ClientOptions give storage.NewClient its credentials (and HTTP
	// client); none means Application Default Credentials.
	ClientOptions []option.ClientOption
}

// ServiceAccount is a service account's identity and PEM private key, as in
// its JSON key file (client_email, private_key).
type ServiceAccount struct {
	Email      string
	PrivateKey []byte
}

// String redacts the key, so that no %v ever prints it.
func (s *ServiceAccount) String() string { return "ServiceAccount{" + s.Email + ", REDACTED}" }

// GoString redacts the key.
func (s *ServiceAccount) GoString() string { return s.String() }

// Client is an objects.Client on GCS.
type Client struct {
	gcs      *storage.Client
	project  string
	signAs   *ServiceAccount
	insecure bool // the endpoint is plain HTTP: signed URLs must be too
}

var _ objects.Client = (*Client)(nil)

// NormalizeEndpoint checks an endpoint override and gives it the JSON API
// path when it has none, so "http://127.0.0.1:4443" is enough.
func NormalizeEndpoint(ep string) (string, error) {
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("gcsobjects: endpoint %q must be an http(s) URL like http://127.0.0.1:4443/storage/v1/", ep)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/storage/v1/"
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// New makes a client; it dials nothing until the first operation.
func New(ctx context.Context, opts Options) (*Client, error) {
	copts := append([]option.ClientOption{}, opts.ClientOptions...)
	insecure := false
	if opts.Endpoint != "" {
		ep, err := NormalizeEndpoint(opts.Endpoint)
		if err != nil {
			return nil, err
		}
		insecure = strings.HasPrefix(ep, "http://")
		copts = append(copts, option.WithEndpoint(ep))
	}
	gcs, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcsobjects: new client: %w", err)
	}
	return &Client{gcs: gcs, project: opts.Project, signAs: opts.SignAs, insecure: insecure}, nil
}

// Close releases the storage client.
func (c *Client) Close() error { return c.gcs.Close() }

func uri(bucket, key string) string {
	return objects.URI{Scheme: objects.SchemeGCS, Bucket: bucket, Key: key}.String()
}

// fail classifies a storage error.
func fail(op, bucket, key string, err error) *objects.Error {
	return &objects.Error{Op: op, URI: uri(bucket, key), Kind: classify(err), Err: err}
}

func classify(err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return objects.ErrNotFound
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		if kind := objects.StatusKind(ge.Code); kind != nil {
			return kind
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return objects.ErrUnavailable
	}
	return nil
}

// List returns a page of the bucket's objects with the prefix.
func (c *Client) List(ctx context.Context, bucket string, opts objects.ListOptions) (*objects.Page, error) {
	size := opts.PageSize
	if size <= 0 {
		size = objects.DefaultPageSize
	}
	q := &storage.Query{Prefix: opts.Prefix}
	// Only what Attrs reports: the rest of each object's metadata would
	// be fetched and dropped.
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "ContentType"}); err != nil {
		return nil, fail("list", bucket, opts.Prefix, err)
	}
	var attrs []*storage.ObjectAttrs
	next, err := iterator.NewPager(c.gcs.Bucket(bucket).Objects(ctx, q), size, opts.PageToken).NextPage(&attrs)
	if err != nil {
		return nil, fail("list", bucket, opts.Prefix, err)
	}
	page := &objects.Page{Objects: make([]objects.Attrs, 0, len(attrs)), NextPageToken: next}
	for _, a := range attrs {
		page.Objects = append(page.Objects, objects.Attrs{Bucket: bucket, Key: a.Name, Size: a.Size, Updated: a.Updated, ContentType: a.ContentType})
	}
	return page, nil
}

// Read opens the object for streaming.
func (c *Client) Read(ctx context.Context, bucket, key string) (*objects.Reader, error) {
	r, err := c.gcs.Bucket(bucket).Object(key).NewReader(ctx)
	if err != nil {
		return nil, fail("read", bucket, key, err)
	}
	ct := r.Attrs.ContentType
	if ct == "" {
		ct = objects.DefaultContentType
	}
	return &objects.Reader{
		Attrs:  objects.Attrs{Bucket: bucket, Key: key, Size: r.Attrs.Size, Updated: r.Attrs.LastModified, ContentType: ct},
		Length: r.Remain(),
		Body:   r,
	}, nil
}

// chunkFor sizes the upload buffer to the object: the library allocates a
// whole chunk per writer (16 MiB by default), and a body smaller than one
// chunk goes in a single request anyway.
func chunkFor(size int64) int {
	if size < 0 || size >= googleapi.DefaultUploadChunkSize {
		return googleapi.DefaultUploadChunkSize
	}
	// One byte more than the body, so the library sees its end within the
	// first chunk; it rounds up to a multiple of MinUploadChunkSize.
	return int(max(size+1, googleapi.MinUploadChunkSize))
}

// Write uploads body as the object. If body fails, the upload is cancelled
// before it commits, so the previous object stays.
func (c *Client) Write(ctx context.Context, bucket, key string, body io.Reader, opts objects.WriteOptions) (*objects.Attrs, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := c.gcs.Bucket(bucket).Object(key).NewWriter(ctx)
	w.ContentType = opts.ContentType
	if w.ContentType == "" {
		w.ContentType = objects.DefaultContentType
	}
	w.ChunkSize = chunkFor(opts.Size)
	if _, err := io.Copy(w, body); err != nil {
		cancel() // aborts the upload; Close then reports the cancellation
		_ = w.Close()
		return nil, fail("write", bucket, key, err)
	}
	if err := w.Close(); err != nil {
		return nil, fail("write", bucket, key, err)
	}
	a := w.Attrs()
	return &objects.Attrs{Bucket: bucket, Key: key, Size: a.Size, Updated: a.Updated, ContentType: a.ContentType}, nil
}

// Delete removes the object.
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	if err := c.gcs.Bucket(bucket).Object(key).Delete(ctx); err != nil {
		return fail("delete", bucket, key, err)
	}
	return nil
}

// Sign returns a V4 signed URL, signed with SignAs's key or, without one,
// the client's own credentials.
func (c *Client) Sign(ctx context.Context, bucket, key string, opts objects.SignOptions) (string, error) {
	// The library counts whole seconds from its own, slightly later, clock
	// reading: half a second more keeps X-Goog-Expires at what was asked,
	// except at the maximum, which it must not exceed.
	expires := time.Now().Add(opts.Expires)
	if opts.Expires < objects.MaxSignedExpiry {
		expires = expires.Add(time.Second / 2)
	}
	so := &storage.SignedURLOptions{
		Scheme:   storage.SigningSchemeV4,
		Method:   opts.Method,
		Expires:  expires,
		Insecure: c.insecure,
	}
	if opts.Method == objects.MethodPut {
		so.ContentType = opts.ContentType
	}
	if c.signAs != nil {
		so.GoogleAccessID = c.signAs.Email
		so.PrivateKey = c.signAs.PrivateKey
	}
	s, err := c.gcs.Bucket(bucket).SignedURL(key, so)
	if err != nil {
		e := fail("sign", bucket, key, err)
		if e.Kind == nil {
			// Not the IAM API refusing: no identity to sign as, or a key
			// that does not parse. The library's message names neither
			// the key nor its bytes.
			e.Kind = objects.ErrCannotSign
		}
		return "", e
	}
	return s, nil
}

// CreateBucket creates the bucket in Options.Project with uniform
// bucket-level access and public access prevention: buckets made on an
// agent's behalf are private and governed by IAM alone.
func (c *Client) CreateBucket(ctx context.Context, bucket string, opts objects.BucketOptions) error {
	if c.project == "" {
		return &objects.Error{Op: "createBucket", URI: uri(bucket, ""), Kind: objects.ErrInvalid, Err: errors.New("no project to create the bucket in")}
	}
	attrs := &storage.BucketAttrs{
		Location:                 opts.Location,
		UniformBucketLevelAccess: storage.UniformBucketLevelAccess{Enabled: true},
		PublicAccessPrevention:   storage.PublicAccessPreventionEnforced,
	}
	if err := c.gcs.Bucket(bucket).Create(ctx, c.project, attrs); err != nil {
		return fail("createBucket", bucket, "", err)
	}
	return nil
}

// policyAttempts bounds the read-modify-write retries of GrantAccess when
// the policy changes underneath it.
const policyAttempts = 3

// GrantAccess adds the member to the role's unconditional binding in the
// bucket's IAM policy (version 3, so conditional bindings survive), with
// the policy's etag guarding against concurrent edits.
func (c *Client) GrantAccess(ctx context.Context, bucket string, g objects.Grant) error {
	h := c.gcs.Bucket(bucket).IAM().V3()
	for attempt := 1; ; attempt++ {
		p, err := h.Policy(ctx)
		if err != nil {
			return fail("grantAccess", bucket, "", err)
		}
		if !addMember(p, g) {
			return nil // granted already: nothing to write
		}
		err = h.SetPolicy(ctx, p)
		if err == nil {
			return nil
		}
		if classify(err) != objects.ErrConflict || attempt >= policyAttempts {
			return fail("grantAccess", bucket, "", err)
		}
	}
}

// addMember adds g's member to the unconditional binding of g's role,
// creating it if need be, and reports whether the policy changed.
func addMember(p *iam.Policy3, g objects.Grant) bool {
	for _, b := range p.Bindings {
		if b.Role != g.Role || b.Condition != nil {
			continue
		}
		if slices.Contains(b.Members, g.Member) {
			return false
		}
		b.Members = append(b.Members, g.Member)
		return true
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: g.Role, Members: []string{g.Member}})
	return true
}
