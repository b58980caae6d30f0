// Package objectservers starts real object-storage servers on loopback for
// tests: fake-gcs-server (GCS's JSON and XML APIs) and gofakes3 (S3's REST
// API), each recording the credentials its requests carried, plus a
// verifier for GCS V4 signed URLs. Tests import it, and so does
// scripts/localcloud, which serves the same servers to the local run by
// hand: hence constructors that return errors (StartGCS, StartS3) beside
// the testing.TB ones.
//
// fake-gcs-server has no IAM endpoints; GCS wraps it with bucket IAM
// policies (GET/PUT /storage/v1/b/BUCKET/iam with etag checks) so that
// grants can be exercised end to end.
package objectservers

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// recorder keeps the credentials requests carried.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

const maxRecorded = 10000

func (r *recorder) add(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) < maxRecorded {
		r.seen = append(r.seen, v)
	}
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// GCS is fake-gcs-server on a loopback port, with bucket IAM policies.
type GCS struct {
	// URL is the server's base URL, http://127.0.0.1:PORT; it serves the
	// XML API (and so signed URLs) at its root.
	URL  string
	Fake *fakestorage.Server

	auth  recorder
	mu    sync.Mutex
	iam   map[string]*policy
	srv   *httptest.Server
	close sync.Once
}

type binding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
}

type policy struct {
	Kind       string    `json:"kind"`
	ResourceID string    `json:"resourceId"`
	Version    int       `json:"version"`
	Etag       string    `json:"etag"`
	Bindings   []binding `json:"bindings"`
}

// NewGCS starts a server holding the named (empty) buckets; it stops when
// t ends.
func NewGCS(t testing.TB, buckets ...string) *GCS {
	t.Helper()
	return startForTest(t, StartGCS, buckets)
}

// startForTest starts a server with start, failing t if it cannot, and
// stops it when t ends.
func startForTest[S interface{ Close() }](t testing.TB, start func(...string) (S, error), buckets []string) S {
	t.Helper()
	s, err := start(buckets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// StartGCS starts a server holding the named (empty) buckets on a free
// 127.0.0.1 port; Close stops it.
func StartGCS(buckets ...string) (*GCS, error) {
	ts := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1 already
	addr := ts.Listener.Addr().String()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:     "http",
		Host:       "127.0.0.1",
		NoListener: true, // served below, behind the IAM routes
		// Resumable uploads continue at this URL; the XML API (reads,
		// signed URLs) answers for requests to this host.
		ExternalURL: "http://" + addr,
		PublicHost:  addr,
	})
	if err != nil {
		ts.Close()
		return nil, fmt.Errorf("objectservers: start fake-gcs-server: %w", err)
	}
	g := &GCS{URL: "http://" + addr, Fake: fake, iam: map[string]*policy{}, srv: ts}
	ts.Config.Handler = g.handler(fake.HTTPHandler())
	ts.Start()
	for _, b := range buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	return g, nil
}

// Close stops the server; it may be called more than once.
func (g *GCS) Close() {
	g.close.Do(func() {
		g.srv.Close()
		g.Fake.Stop()
	})
}

// Put stores an object directly in the server, for tests that need one
// larger or quicker than a write through the code under test.
func (g *GCS) Put(t testing.TB, bucket, key, contentType string, data []byte) {
	t.Helper()
	g.Fake.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: key, ContentType: contentType},
		Content:     data,
	})
}

// Endpoint is the JSON API endpoint to give the storage client.
func (g *GCS) Endpoint() string { return g.URL + "/storage/v1/" }

// Authorizations returns the Authorization headers of every request so
// far ("" for requests without one).
func (g *GCS) Authorizations() []string { return g.auth.all() }

// Members returns the members bound to role on bucket.
func (g *GCS) Members(bucket, role string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.iam[bucket]
	if p == nil {
		return nil
	}
	var out []string
	for _, b := range p.Bindings {
		if b.Role == role {
			out = append(out, b.Members...)
		}
	}
	return out
}

// handler records credentials and serves IAM policies; it matches paths by
// hand because http.ServeMux would clean object names ("a//b").
func (g *GCS) handler(fake http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.auth.add(r.Header.Get("Authorization"))
		// The fake tells XML API requests by their host; one that reached
		// it through a loopback proxy (faulttest) is answered as if sent
		// to it directly.
		if strings.HasPrefix(r.Host, "127.0.0.1:") {
			r.Host = strings.TrimPrefix(g.URL, "http://")
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/storage/v1/b/")
		if bucket, ok2 := strings.CutSuffix(rest, "/iam"); ok && ok2 && !strings.Contains(bucket, "/") {
			g.serveIAM(w, r, bucket)
			return
		}
		fake.ServeHTTP(w, r)
	})
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

func (g *GCS) serveIAM(w http.ResponseWriter, r *http.Request, bucket string) {
	if _, err := g.Fake.Backend().GetBucket(bucket); err != nil {
		jsonError(w, http.StatusNotFound, "The specified bucket does not exist.")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.iam[bucket]
	if cur == nil {
		cur = &policy{Kind: "storage#policy", ResourceID: "projects/_/buckets/" + bucket, Version: 1, Etag: etag(0)}
		g.iam[bucket] = cur
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var in policy
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			jsonError(w, http.StatusBadRequest, "invalid policy")
			return
		}
		if in.Etag != "" && in.Etag != cur.Etag {
			jsonError(w, http.StatusPreconditionFailed, "the policy changed since it was read")
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(decodeEtag(cur.Etag), "v"))
		cur.Bindings = in.Bindings
		cur.Version = max(in.Version, 1)
		cur.Etag = etag(n + 1)
	default:
		jsonError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(cur)
}

func etag(n int) string { return base64.StdEncoding.EncodeToString([]byte("v" + strconv.Itoa(n))) }

func decodeEtag(e string) string {
	b, _ := base64.StdEncoding.DecodeString(e)
	return string(b)
}

// S3 is gofakes3 with its in-memory backend on a loopback port.
type S3 struct {
	URL string

	backend *s3mem.Backend
	auth    recorder
	srv     *httptest.Server
}

// Put stores an object directly in the server, for tests that need one
// larger or quicker than a write through the code under test.
func (s *S3) Put(t testing.TB, bucket, key, contentType string, data []byte) {
	t.Helper()
	meta := map[string]string{"Content-Type": contentType}
	if _, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// NewS3 starts a server holding the named (empty) buckets; it stops when t
// ends.
func NewS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	return startForTest(t, StartS3, buckets)
}

// StartS3 starts a server holding the named (empty) buckets on a free
// 127.0.0.1 port; Close stops it.
func StartS3(buckets ...string) (*S3, error) {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("objectservers: create S3 bucket %s: %w", b, err)
		}
	}
	faker := gofakes3.New(backend)
	s := &S3{backend: backend}
	h := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auth.add(accessKeyOf(r))
		h.ServeHTTP(w, r)
	}))
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server; it may be called more than once.
func (s *S3) Close() { s.srv.Close() }

// accessKeyOf returns the access key ID a SigV4 request was signed with,
// from its Authorization header or its presigned query.
func accessKeyOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if a := r.Header.Get("Authorization"); a != "" {
		_, after, ok := strings.Cut(a, "Credential=")
		if !ok {
			return ""
		}
		cred = after
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

// AccessKeys returns the access key ID each request so far was signed with
// ("" for unsigned requests).
func (s *S3) AccessKeys() []string { return s.auth.all() }

// VerifyGCSSignedURL checks a GCS V4 signed URL independently of the
// storage library: it rebuilds the canonical request and string to sign
// from the URL, per https://cloud.google.com/storage/docs/authentication/canonical-requests,
// and verifies the RSA-SHA256 signature with pub. contentType is the
// Content-Type header the URL was signed for ("" for none).
func VerifyGCSSignedURL(rawURL, method, contentType string, pub *rsa.PublicKey) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	q := u.Query()
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil || len(sig) == 0 {
		return errors.New("X-Goog-Signature is missing or not hex")
	}
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		return fmt.Errorf("X-Goog-Algorithm is %q", q.Get("X-Goog-Algorithm"))
	}
	_, scope, ok := strings.Cut(q.Get("X-Goog-Credential"), "/")
	if !ok {
		return errors.New("X-Goog-Credential has no scope")
	}
	q.Del("X-Goog-Signature")
	headers := map[string]string{"host": u.Hostname()}
	if contentType != "" {
		headers["content-type"] = contentType
	}
	signed := strings.Split(q.Get("X-Goog-SignedHeaders"), ";")
	sort.Strings(signed)
	var canonHeaders strings.Builder
	for _, h := range signed {
		v, ok := headers[h]
		if !ok {
			return fmt.Errorf("signed header %q is unexpected", h)
		}
		canonHeaders.WriteString(h + ":" + v + "\n")
	}
	canonical := strings.Join([]string{
		method,
		u.EscapedPath(),
		strings.ReplaceAll(q.Encode(), "+", "%20"),
		canonHeaders.String(),
		strings.Join(signed, ";"),
		"UNSIGNED-PAYLOAD",
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"GOOG4-RSA-SHA256", q.Get("X-Goog-Date"), scope, hex.EncodeToString(sum[:])}, "\n")
	digest := sha256.Sum256([]byte(toSign))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	return nil
}

// IsolateAWS sets the process environment, for t's duration, so that the
// AWS SDK's default credential chain finds exactly the key pair given and
// nothing of the machine's (no profile, no shared files, no instance
// metadata), and no default region.
func IsolateAWS(t testing.TB, keyID, secretKey string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           keyID,
		"AWS_SECRET_ACCESS_KEY":       secretKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}
