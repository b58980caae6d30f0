// Package s3objects is the Amazon S3 backend of package objects, on
// aws-sdk-go-v2. It works with S3-compatible servers too, through an
// endpoint override with path-style addressing.
package s3objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"connectors.dev/connectors/shared/objects"
)

// DefaultRegion is where requests go when the configuration names no
// region: S3's original region, which also answers for buckets elsewhere
// with a redirect naming their region.
const DefaultRegion = "us-east-1"

// Options configure a Client.
type Options struct {
	// Config supplies the credentials, the default region and the HTTP
	// client.
	Config aws.Config
	// Endpoint overrides S3's endpoint, for an S3-compatible server;
	// requests then use path-style addressing (host/bucket/key), which
	// such servers expect and which needs no wildcard DNS.
	Endpoint string
	// Regions remembers which region each bucket is in, across clients;
	// nil gives the client a cache of its own.
	Regions *RegionCache
}

// RegionCache maps bucket names to the regions S3 said they are in. It is
// safe for concurrent use; the zero value is ready.
type RegionCache struct {
	mu sync.Mutex
	m  map[string]string
}

// maxCachedRegions bounds the cache; it is cleared when full, since an
// entry only saves one redirect.
const maxCachedRegions = 4096

func (rc *RegionCache) get(bucket string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.m[bucket]
}

func (rc *RegionCache) set(bucket, region string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.m == nil || len(rc.m) >= maxCachedRegions {
		rc.m = map[string]string{}
	}
	rc.m[bucket] = region
}

// Client is an objects.Client on S3.
type Client struct {
	s3      *s3.Client
	presign *s3.PresignClient
	region  string
	regions *RegionCache
}

var _ objects.Client = (*Client)(nil)

// CheckEndpoint validates an endpoint override.
func CheckEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("s3objects: endpoint %q must be an http(s) URL like http://127.0.0.1:9000", ep)
	}
	return nil
}

// New makes a client; it dials nothing until the first operation.
func New(opts Options) (*Client, error) {
	cfg := opts.Config.Copy()
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if opts.Endpoint != "" {
		if err := CheckEndpoint(opts.Endpoint); err != nil {
			return nil, err
		}
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.UsePathStyle = true
		}
	})
	regions := opts.Regions
	if regions == nil {
		regions = &RegionCache{}
	}
	return &Client{
		s3: c,
		presign: s3.NewPresignClient(c, func(po *s3.PresignOptions) {
			po.ClientOptions = append(po.ClientOptions, func(o *s3.Options) {
				// Otherwise the SDK signs a checksum of the empty body into
				// upload URLs, and every real upload then fails to match.
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			})
		}),
		region:  cfg.Region,
		regions: regions,
	}, nil
}

// Close does nothing: the HTTP client belongs to the aws.Config.
func (c *Client) Close() error { return nil }

func uri(bucket, key string) string {
	return objects.URI{Scheme: objects.SchemeS3, Bucket: bucket, Key: key}.String()
}

func fail(op, bucket, key string, err error) *objects.Error {
	return &objects.Error{Op: op, URI: uri(bucket, key), Kind: classify(err), Err: err}
}

func classify(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return objects.ErrNotFound
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AllAccessDisabled", "AccountProblem":
			return objects.ErrPermissionDenied
		case "BucketAlreadyExists", "BucketAlreadyOwnedByYou":
			return objects.ErrExists
		case "EntityTooLarge":
			return objects.ErrTooLarge
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
			return objects.ErrUnavailable
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if kind := objects.StatusKind(re.HTTPStatusCode()); kind != nil {
			return kind
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return objects.ErrUnavailable
	}
	return nil
}

// redirectRegion returns the region S3 named when it refused a request for
// going to the wrong one (301 PermanentRedirect, or a 400 with the header).
func redirectRegion(err error) string {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	if s := re.HTTPStatusCode(); s != http.StatusMovedPermanently && s != http.StatusBadRequest {
		return ""
	}
	return re.Response.Header.Get("X-Amz-Bucket-Region")
}

// regionOpts sends a call to the bucket's known region.
func (c *Client) regionOpts(bucket string) []func(*s3.Options) {
	r := c.regions.get(bucket)
	if r == "" || r == c.region {
		return nil
	}
	return []func(*s3.Options){func(o *s3.Options) { o.Region = r }}
}

// do runs call in the bucket's region, and once more in the region S3
// names if it answers that the bucket lives elsewhere. call must be
// repeatable (a seekable body is rewound by the SDK).
func (c *Client) do(bucket string, call func(opts ...func(*s3.Options)) error) error {
	err := call(c.regionOpts(bucket)...)
	if r := redirectRegion(err); r != "" && r != c.regions.get(bucket) {
		c.regions.set(bucket, r)
		err = call(c.regionOpts(bucket)...)
	}
	if err == nil && c.regions.get(bucket) == "" {
		// S3 answered in the client's own region: remember that too, so
		// that Sign does not probe again.
		c.regions.set(bucket, c.region)
	}
	return err
}

// List returns a page of the bucket's objects with the prefix.
func (c *Client) List(ctx context.Context, bucket string, opts objects.ListOptions) (*objects.Page, error) {
	size := opts.PageSize
	if size <= 0 {
		size = objects.DefaultPageSize
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(min(size, objects.MaxPageSize)))}
	if opts.Prefix != "" {
		in.Prefix = aws.String(opts.Prefix)
	}
	if opts.PageToken != "" {
		in.ContinuationToken = aws.String(opts.PageToken)
	}
	var out *s3.ListObjectsV2Output
	err := c.do(bucket, func(o ...func(*s3.Options)) (err error) {
		out, err = c.s3.ListObjectsV2(ctx, in, o...)
		return err
	})
	if err != nil {
		return nil, fail("list", bucket, opts.Prefix, err)
	}
	page := &objects.Page{Objects: make([]objects.Attrs, 0, len(out.Contents))}
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, objects.Attrs{
			Bucket:  bucket,
			Key:     aws.ToString(o.Key),
			Size:    aws.ToInt64(o.Size),
			Updated: aws.ToTime(o.LastModified),
		})
	}
	if aws.ToBool(out.IsTruncated) {
		page.NextPageToken = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

// Read opens the object for streaming.
func (c *Client) Read(ctx context.Context, bucket, key string) (*objects.Reader, error) {
	var out *s3.GetObjectOutput
	err := c.do(bucket, func(o ...func(*s3.Options)) (err error) {
		out, err = c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, o...)
		return err
	})
	if err != nil {
		return nil, fail("read", bucket, key, err)
	}
	ct := aws.ToString(out.ContentType)
	if ct == "" {
		ct = objects.DefaultContentType
	}
	length := int64(-1)
	if out.ContentLength != nil {
		length = *out.ContentLength
	}
	return &objects.Reader{
		Attrs:  objects.Attrs{Bucket: bucket, Key: key, Size: max(length, 0), Updated: aws.ToTime(out.LastModified), ContentType: ct},
		Length: length,
		Body:   out.Body,
	}, nil
}

// Write uploads body as the object. SigV4 signs a hash of the payload, so
// the SDK needs a seekable body; any other reader is buffered in memory.
func (c *Client) Write(ctx context.Context, bucket, key string, body io.Reader, opts objects.WriteOptions) (*objects.Attrs, error) {
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fail("write", bucket, key, err)
		}
		rs = bytes.NewReader(data)
	}
	size, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fail("write", bucket, key, err)
	}
	ct := opts.ContentType
	if ct == "" {
		ct = objects.DefaultContentType
	}
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: rs, ContentType: aws.String(ct), ContentLength: aws.Int64(size)}
	err = c.do(bucket, func(o ...func(*s3.Options)) error {
		// A retry in another region starts the body over.
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := c.s3.PutObject(ctx, in, o...)
		return err
	})
	if err != nil {
		return nil, fail("write", bucket, key, err)
	}
	// PutObject does not say when the object was stored; S3's own clock
	// does, as for every other timestamp reported.
	var head *s3.HeadObjectOutput
	err = c.do(bucket, func(o ...func(*s3.Options)) (err error) {
		head, err = c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, o...)
		return err
	})
	if err != nil {
		return nil, fail("write", bucket, key, err)
	}
	return &objects.Attrs{Bucket: bucket, Key: key, Size: size, Updated: aws.ToTime(head.LastModified), ContentType: ct}, nil
}

// Delete removes the object. S3 answers success for keys that do not
// exist, so the object is looked up first, as GCS would refuse.
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	err := c.do(bucket, func(o ...func(*s3.Options)) error {
		_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, o...)
		return err
	})
	if err == nil {
		err = c.do(bucket, func(o ...func(*s3.Options)) error {
			_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, o...)
			return err
		})
	}
	if err != nil {
		return fail("delete", bucket, key, err)
	}
	return nil
}

// Sign presigns a GET or PUT with the client's credentials. With temporary
// credentials the URL carries their session token and stops working when
// they expire, whichever comes first.
func (c *Client) Sign(ctx context.Context, bucket, key string, opts objects.SignOptions) (string, error) {
	if c.regions.get(bucket) == "" {
		// A URL signed for the wrong region is refused when used; one
		// cheap request finds the bucket's region while the caller waits.
		// Its other failures are the URL user's to find out about.
		_ = c.do(bucket, func(o ...func(*s3.Options)) error {
			_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, o...)
			return err
		})
	}
	presignOpts := []func(*s3.PresignOptions){s3.WithPresignExpires(opts.Expires)}
	if ro := c.regionOpts(bucket); ro != nil {
		presignOpts = append(presignOpts, func(po *s3.PresignOptions) { po.ClientOptions = append(po.ClientOptions, ro...) })
	}
	var (
		signed string
		err    error
	)
	switch opts.Method {
	case objects.MethodGet:
		var req *v4.PresignedHTTPRequest
		req, err = c.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, presignOpts...)
		if err == nil {
			signed = req.URL
		}
	case objects.MethodPut:
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if opts.ContentType != "" {
			in.ContentType = aws.String(opts.ContentType)
		}
		var req *v4.PresignedHTTPRequest
		req, err = c.presign.PresignPutObject(ctx, in, presignOpts...)
		if err == nil {
			signed = req.URL
		}
	default:
		return "", &objects.Error{Op: "sign", URI: uri(bucket, key), Kind: objects.ErrInvalid, Err: fmt.Errorf("method %q cannot be signed", opts.Method)}
	}
	if err != nil {
		e := fail("sign", bucket, key, err)
		if e.Kind == nil {
			e.Kind = objects.ErrCannotSign // no credentials to sign with
		}
		return "", e
	}
	return signed, nil
}

// CreateBucket creates the bucket in opts.Location, else the client's
// region. New S3 buckets block public access and disable ACLs by default.
func (c *Client) CreateBucket(ctx context.Context, bucket string, opts objects.BucketOptions) error {
	region := opts.Location
	if region == "" {
		region = c.region
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if region != DefaultRegion {
		// us-east-1 is the one region that must not be named.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := c.s3.CreateBucket(ctx, in, func(o *s3.Options) { o.Region = region }); err != nil {
		return fail("createBucket", bucket, "", err)
	}
	c.regions.set(bucket, region)
	return nil
}

// GrantAccess is unsupported: S3 has no per-bucket member/role grants.
// Access is given by IAM identity policies or bucket policies, whose
// principals and actions do not map onto a member and a storage role, and
// editing them on an agent's request would let it widen its own access.
func (c *Client) GrantAccess(ctx context.Context, bucket string, g objects.Grant) error {
	return &objects.Error{Op: "grantAccess", URI: uri(bucket, ""), Kind: objects.ErrUnsupported,
		Err: errors.New("S3 buckets are shared through IAM or bucket policies, which this service does not edit")}
}
