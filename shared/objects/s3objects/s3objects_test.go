package s3objects_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/objects/objecttest"
	"connectors.dev/connectors/shared/objects/s3objects"
)

const accessKey = "AKIATESTKEY0000001"

func config(region string) aws.Config {
	return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(accessKey, "test-secret-key", "")}
}

func TestConformance(t *testing.T) {
	objecttest.Run(t, func(t *testing.T) objecttest.Harness {
		srv := objectservers.NewS3(t, "test-bucket")
		c, err := s3objects.New(s3objects.Options{Config: config("us-east-1"), Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, k := range srv.AccessKeys() {
				if k != accessKey && k != "" {
					t.Errorf("a request was signed with %q", k)
				}
			}
		})
		return objecttest.Harness{
			Client:    c,
			Scheme:    objects.SchemeS3,
			Bucket:    "test-bucket",
			NewBucket: "new-bucket-1",
			Member:    "arn:aws:iam::123456789012:role/reader",
			CheckSignedURL: func(t *testing.T, raw string, opts objects.SignOptions) {
				u, err := url.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
				if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" ||
					!strings.HasPrefix(q.Get("X-Amz-Credential"), accessKey+"/") ||
					!strings.HasSuffix(q.Get("X-Amz-Credential"), "/us-east-1/s3/aws4_request") ||
					q.Get("X-Amz-Expires") != strconv.Itoa(int(opts.Expires.Seconds())) ||
					len(q.Get("X-Amz-Signature")) != 64 || q.Get("X-Amz-Date") == "" ||
					!slices.Contains(signed, "host") {
					t.Fatalf("presigned URL parameters: %s", raw)
				}
				if opts.ContentType != "" && !slices.Contains(signed, "content-type") {
					t.Fatalf("content type not signed: %s", raw)
				}
				for k := range q {
					if strings.Contains(strings.ToLower(k), "checksum") {
						t.Fatalf("presigned URL pins a checksum (%s): %s", k, raw)
					}
				}
			},
		}
	})
}

// A bucket in another region answers 301 with its region; the client
// retries there and remembers it. The proxy plays S3's part: it refuses
// requests for "eu-bucket" signed for any region but eu-west-1.
func TestRegionRedirect(t *testing.T) {
	srv := objectservers.NewS3(t, "eu-bucket")
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var regions []string
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		parts := strings.Split(cred, "/")
		region := ""
		if len(parts) > 2 {
			region = parts[2]
		}
		mu.Lock()
		regions = append(regions, region)
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/eu-bucket") && region != "eu-west-1" {
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMovedPermanently)
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte(`<Error><Code>PermanentRedirect</Code><Message>use eu-west-1</Message></Error>`))
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := s3objects.New(s3objects.Options{Config: config(""), Endpoint: front.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(t.Context(), "eu-bucket", "k", strings.NewReader("v"), objects.WriteOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(t.Context(), "eu-bucket", objects.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	signed, err := c.Sign(t.Context(), "eu-bucket", "k", objects.SignOptions{Method: objects.MethodGet, Expires: time.Minute})
	if err != nil || !strings.Contains(signed, "%2Feu-west-1%2Fs3%2F") {
		t.Fatalf("signed for the wrong region: %s %v", signed, err)
	}
	mu.Lock()
	defer mu.Unlock()
	// One redirect (the first PutObject), then eu-west-1 throughout.
	if len(regions) < 3 || regions[0] != "us-east-1" || slices.Contains(regions[1:], "us-east-1") {
		t.Fatalf("regions used: %q", regions)
	}
}

// TestSignProbesOnce: Sign asks S3 for a bucket's region only while it
// does not know it; a bucket answering in the client's own region is
// known after its first request.
func TestSignProbesOnce(t *testing.T) {
	srv := objectservers.NewS3(t, "home-bucket")
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var requests atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c, err := s3objects.New(s3objects.Options{Config: config(""), Endpoint: front.URL})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Sign(t.Context(), "home-bucket", "k", objects.SignOptions{Method: objects.MethodGet, Expires: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("3 signs sent %d requests to S3, want 1 (the first one's region probe)", n)
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:9000", "ftp://h", "http://", "http://h/?x=1"} {
		if err := s3objects.CheckEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := s3objects.New(s3objects.Options{Endpoint: "nope"}); err == nil {
		t.Error("New accepted a bad endpoint")
	}
}
