// Package files is the agents' object-storage function: list, read, write,
// delete, sign, createBucket and grantAccess on gs:// and s3:// URIs, with
// a connector's credentials or, without a connector, the deployment's
// default ones (Application Default Credentials for GCS, the default AWS
// chain for S3) — these only where an admin has mapped the agent to the
// bucket or folder (Options.DefaultAccess), and never to create or share a
// bucket.
//
// A connector is used exactly as the token function would use it: the
// agent must be among its agents and it must be active (mint.Service.Token
// checks both, and mints). GCS operations carry the connector's minted
// access token; signing uses its service-account key from the secret
// bundle. S3 operations use temporary STS credentials minted from the
// connector's key pair, so the long-lived key never reaches S3 from here
// either. The storage itself is behind shared/objects.
package files

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/s3objects"
)

// FnFiles is the function's name.
const FnFiles = "files"

// Operations.
const (
	OpList         = "list"
	OpRead         = "read"
	OpWrite        = "write"
	OpDelete       = "delete"
	OpSign         = "sign"
	OpCreateBucket = "createBucket"
	OpGrantAccess  = "grantAccess"
)

// Defaults and bounds of request fields.
const (
	// DefaultMaxWriteBytes caps a write's decoded data. Cloud Run refuses
	// HTTP/1 requests over 32 MiB, and base64 in JSON takes 4/3 of that:
	// 20 MiB of data is about 27 MiB of request. Larger uploads go
	// straight to the bucket through a signed PUT URL.
	DefaultMaxWriteBytes = 20 << 20
	// DefaultReadTimeout bounds streaming one read's body; Terraform gives
	// the files function a platform timeout above it (functions.tf).
	DefaultReadTimeout = 10 * time.Minute
	// DefaultGrantRole is what grantAccess gives when no role is named:
	// read objects, nothing more. objectUser and objectCreator may be
	// named; nothing with power over the bucket or its IAM policy.
	DefaultGrantRole = "roles/storage.objectViewer"
	// DefaultMaxSignedExpiry caps a signed URL's expiresIn unless the
	// deployment raises it (Options.MaxSignedExpiry, up to
	// objects.MaxSignedExpiry): a URL is a bearer credential nobody can
	// revoke.
	DefaultMaxSignedExpiry = time.Hour
	maxPageTokenLen        = 4096
	maxFieldLen            = 256
)

// Authenticator tells who is calling and for which agents they may act.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
	MayActFor(p auth.Principal, agent string) bool
}

// Server serves the files function. Fields are set before use; the
// storage clients are made on first use.
type Server struct {
	Mint    *mint.Service
	Auth    Authenticator
	Log     *slog.Logger
	Options Options
	Now     func() time.Time

	clients clients
	writes  writeGate
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{FnFiles: s.Files}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) maxWrite() int64 {
	if s.Options.MaxWriteBytes > 0 {
		return s.Options.MaxWriteBytes
	}
	return DefaultMaxWriteBytes
}

func (s *Server) maxSignedExpiry() time.Duration {
	if s.Options.MaxSignedExpiry > 0 {
		return s.Options.MaxSignedExpiry
	}
	return DefaultMaxSignedExpiry
}

// signedTTL is a signed URL's lifetime when expiresIn is not given.
func (s *Server) signedTTL() time.Duration {
	return min(objects.DefaultSignedTTL, s.maxSignedExpiry())
}

func (s *Server) readTimeout() time.Duration {
	if s.Options.ReadTimeout > 0 {
		return s.Options.ReadTimeout
	}
	return DefaultReadTimeout
}

// requestLimit fits a write of maxWrite bytes in base64 plus the other
// fields, which the ordinary JSON limit bounds.
func (s *Server) requestLimit() int64 {
	return int64(base64.StdEncoding.EncodedLen(int(s.maxWrite()))) + httpx.MaxBodyBytes
}

type request struct {
	Op        string `json:"op"`
	URI       string `json:"uri"`
	Agent     string `json:"agent"`
	Connector string `json:"connector"`

	PageSize    int    `json:"pageSize"`
	PageToken   string `json:"pageToken"`
	Data        b64    `json:"data"`
	ContentType string `json:"contentType"`
	Method      string `json:"method"`
	ExpiresIn   *int64 `json:"expiresIn"`
	Location    string `json:"location"`
	Member      string `json:"member"`
	Role        string `json:"role"`
}

// b64 is a JSON string of standard, padded base64 (RFC 4648 §4), decoded
// straight from the request buffer so the data is held once, not also as a
// string.
type b64 struct {
	set  bool
	data []byte
}

func (b *b64) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return httpx.FieldError("data", "must be a string of base64")
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		// JSON escapes ("\/" from some encoders): unescape first.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return httpx.FieldError("data", "must be a string of base64")
		}
		inner = []byte(s)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(inner)))
	n, err := base64.StdEncoding.Decode(out, inner)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return httpx.FieldError("data", "must be standard base64 with padding (RFC 4648 §4); invalid at character %d", int64(ce))
		}
		return httpx.FieldError("data", "must be standard base64 with padding (RFC 4648 §4)")
	}
	b.set, b.data = true, out[:n]
	return nil
}

// fieldsOf lists the op-specific fields a request sets.
func (r *request) fieldsOf() []string {
	var set []string
	add := func(name string, on bool) {
		if on {
			set = append(set, name)
		}
	}
	add("pageSize", r.PageSize != 0)
	add("pageToken", r.PageToken != "")
	add("data", r.Data.set)
	add("contentType", r.ContentType != "")
	add("method", r.Method != "")
	add("expiresIn", r.ExpiresIn != nil)
	add("location", r.Location != "")
	add("member", r.Member != "")
	add("role", r.Role != "")
	return set
}

// opFields returns the fields op takes besides op, uri, agent and
// connector, and whether op exists. Any other field is refused, so a
// misspelt op's fields do not pass silently.
func opFields(op string) ([]string, bool) {
	switch op {
	case OpList:
		return []string{"pageSize", "pageToken"}, true
	case OpRead, OpDelete:
		return nil, true
	case OpWrite:
		return []string{"data", "contentType"}, true
	case OpSign:
		return []string{"method", "expiresIn", "contentType"}, true
	case OpCreateBucket:
		return []string{"location"}, true
	case OpGrantAccess:
		return []string{"member", "role"}, true
	}
	return nil, false
}

// Files is the files function.
func (s *Server) Files(w http.ResponseWriter, r *http.Request) {
	p, err := s.Auth.Authenticate(r, auth.RoleAgent)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	// Large bodies (writes) wait for room in the shared buffer budget
	// before a byte of them is read.
	release, err := s.writes.acquire(r, s.requestLimit(), s.writeBuffer())
	if err != nil {
		if errors.Is(err, errWritesFull) {
			// Expected under load, not a fault: said at Warn, not Error.
			s.Log.Warn("files: write buffer full", "path", r.URL.Path, "contentLength", r.ContentLength)
			// Read the body through a small buffer and drop it, so the
			// client, still sending, gets this answer rather than a reset
			// connection. Bounded by the request limit and deadline.
			_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, s.requestLimit()))
			w.Header().Set("Retry-After", retryAfter)
			httpx.WriteError(w, httpx.Map(err))
			return
		}
		s.fail(w, r, nil, err)
		return
	}
	defer release()
	var req request
	if err := httpx.DecodeJSONLimit(w, r, &req, s.requestLimit()); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	u, err := s.validate(&req)
	if err != nil {
		s.fail(w, r, &req, err)
		return
	}
	if !s.Auth.MayActFor(p, req.Agent) {
		s.fail(w, r, &req, httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "%s may not act for agent %s", p.Name(), req.Agent))
		return
	}
	if req.Connector == "" {
		if err := s.checkDefaultAccess(&req, u); err != nil {
			s.fail(w, r, &req, err)
			return
		}
	}
	t, err := s.target(r.Context(), &req, u)
	if err != nil {
		s.fail(w, r, &req, err)
		return
	}
	defer t.close()
	if err := s.run(r.Context(), w, &req, u, t); err != nil {
		s.fail(w, r, &req, err)
		return
	}
	s.audit(p, &req, u)
}

// audit writes the line every successful operation leaves: who, for which
// agent, with whose credentials, what, where. Never a credential, a signed
// URL or the data.
func (s *Server) audit(p auth.Principal, req *request, u objects.URI) {
	conn := req.Connector
	if conn == "" {
		conn = "default identity"
	}
	s.Log.Info("files "+req.Op, "audit", true, "principal", p.Name(), "agent", req.Agent, "connector", conn,
		"op", req.Op, "uri", u.String(), "outcome", "ok")
}

// validate checks the request before anything is looked up or called.
func (s *Server) validate(req *request) (objects.URI, error) {
	allowed, known := opFields(req.Op)
	switch {
	case req.Op == "":
		return objects.URI{}, httpx.FieldError("op", "is required: one of list, read, write, delete, sign, createBucket, grantAccess")
	case !known:
		return objects.URI{}, httpx.FieldError("op", "must be one of list, read, write, delete, sign, createBucket, grantAccess")
	}
	if req.URI == "" {
		return objects.URI{}, httpx.FieldError("uri", "is required: gs://BUCKET/OBJECT or s3://BUCKET/KEY")
	}
	u, err := objects.ParseURI(req.URI)
	if err != nil {
		return objects.URI{}, err
	}
	switch req.Op {
	case OpRead, OpWrite, OpDelete, OpSign:
		if u.Key == "" {
			return objects.URI{}, httpx.FieldError("uri", "must name an object for %s: %s://%s/OBJECT", req.Op, u.Scheme, u.Bucket)
		}
	case OpCreateBucket, OpGrantAccess:
		if u.Key != "" {
			return objects.URI{}, httpx.FieldError("uri", "must name a bucket only for %s: %s://%s", req.Op, u.Scheme, u.Bucket)
		}
	}
	if req.Agent == "" {
		return objects.URI{}, httpx.FieldError("agent", "is required: the agent ID the operation is for")
	}
	if err := connector.ValidateAgent("agent", req.Agent); err != nil {
		return objects.URI{}, err
	}
	if req.Connector != "" {
		if err := connector.ValidateName(req.Connector); err != nil {
			return objects.URI{}, httpx.FieldError("connector", "is not a connector name")
		}
	}
	for _, f := range req.fieldsOf() {
		if !slices.Contains(allowed, f) {
			return objects.URI{}, httpx.FieldError(f, "is not a field of op %s", req.Op)
		}
	}
	return u, s.validateOp(req)
}

func (s *Server) validateOp(req *request) error {
	switch req.Op {
	case OpList:
		if req.PageSize < 0 || req.PageSize > objects.MaxPageSize {
			return httpx.FieldError("pageSize", "must be 1-%d (default %d)", objects.MaxPageSize, objects.DefaultPageSize)
		}
		if len(req.PageToken) > maxPageTokenLen {
			return httpx.FieldError("pageToken", "is not a token this function returned")
		}
	case OpWrite:
		if !req.Data.set {
			return httpx.FieldError("data", "is required: the object's content in base64")
		}
		if n := int64(len(req.Data.data)); n > s.maxWrite() {
			return &objects.Error{Op: "write", URI: req.URI, Kind: &objects.LimitError{Size: n, Limit: s.maxWrite()}}
		}
		return validContentType("contentType", req.ContentType)
	case OpSign:
		req.Method = strings.ToUpper(req.Method)
		if req.Method == "" {
			req.Method = objects.MethodGet
		}
		if req.Method != objects.MethodGet && req.Method != objects.MethodPut {
			return httpx.FieldError("method", "must be GET (download) or PUT (upload)")
		}
		if limit := int64(s.maxSignedExpiry() / time.Second); req.ExpiresIn != nil && (*req.ExpiresIn < 1 || *req.ExpiresIn > limit) {
			return httpx.FieldError("expiresIn", "must be 1-%d seconds, this deployment's cap (default %d)", limit, int64(s.signedTTL()/time.Second))
		}
		if req.ContentType != "" && req.Method != objects.MethodPut {
			return httpx.FieldError("contentType", "is only for PUT URLs: the Content-Type the upload must carry")
		}
		return validContentType("contentType", req.ContentType)
	case OpCreateBucket:
		if req.Location != "" && !isToken(req.Location) {
			return httpx.FieldError("location", "must be a GCS location or an AWS region, like US, europe-west1 or eu-west-1")
		}
	case OpGrantAccess:
		// The member is compared with the connector's
		// serviceAccountEmail once the connector is read; here only its
		// shape, so that nothing else is looked up for a stranger.
		if req.Member != "" && (len(req.Member) > maxFieldLen || !strings.HasPrefix(req.Member, "serviceAccount:")) {
			return httpx.FieldError("member", "may only be the connector's serviceAccountEmail, as serviceAccount:EMAIL (or omitted)")
		}
		if req.Role != "" && !slices.Contains(grantRoles, req.Role) {
			return httpx.FieldError("role", "must be one of %s (default %s)", strings.Join(grantRoles, ", "), DefaultGrantRole)
		}
	}
	return nil
}

func validContentType(field, ct string) error {
	if ct == "" {
		return nil
	}
	if len(ct) > maxFieldLen {
		return httpx.FieldError(field, "must be at most %d characters", maxFieldLen)
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return httpx.FieldError(field, "must be a media type like text/plain or application/json")
	}
	return nil
}

// isToken: letters, digits and "-", as every location and region name is.
func isToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// run performs the operation and writes its response.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, req *request, u objects.URI, t *target) error {
	switch req.Op {
	case OpList:
		page, err := t.client.List(ctx, u.Bucket, objects.ListOptions{Prefix: u.Key, PageSize: req.PageSize, PageToken: req.PageToken})
		if err != nil {
			return err
		}
		out := listResponse{Objects: make([]objectJSON, 0, len(page.Objects)), NextPageToken: page.NextPageToken}
		for _, o := range page.Objects {
			out.Objects = append(out.Objects, wireAttrs(u, o))
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case OpRead:
		return s.read(ctx, w, u, t)
	case OpWrite:
		data := req.Data.data
		a, err := t.client.Write(ctx, u.Bucket, u.Key, bytes.NewReader(data), objects.WriteOptions{ContentType: req.ContentType, Size: int64(len(data))})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireAttrs(u, *a))
	case OpDelete:
		if err := t.client.Delete(ctx, u.Bucket, u.Key); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"deleted": u.String()})
	case OpSign:
		ttl := s.signedTTL()
		if req.ExpiresIn != nil {
			ttl = time.Duration(*req.ExpiresIn) * time.Second
		}
		start := s.now()
		signed, err := t.client.Sign(ctx, u.Bucket, u.Key, objects.SignOptions{Method: req.Method, Expires: ttl, ContentType: req.ContentType})
		if err != nil {
			return err
		}
		out := signResponse{URL: signed, Method: req.Method, ExpiresAt: start.Add(ttl).UTC().Format(time.RFC3339)}
		if req.ContentType != "" {
			out.Headers = map[string]string{"Content-Type": req.ContentType}
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case OpCreateBucket:
		if u.Scheme == objects.SchemeGCS && t.project == "" {
			return httpx.Errorf(http.StatusConflict, httpx.CodeFailedPrecondition,
				"creating a GCS bucket needs a project: set the connector's clientId to the project ID (or use a key with project_id); without a connector, set GOOGLE_CLOUD_PROJECT")
		}
		if err := t.client.CreateBucket(ctx, u.Bucket, objects.BucketOptions{Location: req.Location}); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, map[string]string{"created": u.String()})
	case OpGrantAccess:
		if u.Scheme == objects.SchemeS3 {
			// Said before any credential is used: S3 has nothing to grant
			// through (see s3objects.Client.GrantAccess).
			return httpx.FieldError("op", "grantAccess is for gs:// buckets only: S3 buckets are shared through IAM or bucket policies, which an admin edits")
		}
		// connectorTarget has checked the member against the connector
		// (t.grantMember); the default identity never gets here.
		g := objects.Grant{Member: t.grantMember, Role: req.Role}
		if g.Role == "" {
			g.Role = DefaultGrantRole
		}
		if g.Member == "" {
			return httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "grantAccess needs a connector")
		}
		if err := t.client.GrantAccess(ctx, u.Bucket, g); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"uri": u.String(), "member": g.Member, "role": g.Role})
	}
	return nil
}

// read streams the object: nothing is buffered beyond io.Copy's buffer.
// The request deadline bounds opening the object (an unreachable storage
// service still ends as 503 in time); the body then streams under the
// read timeout, because a large object outlasts the request deadline.
// Once the status is sent an error can only cut the body short, so the
// connection is dropped rather than letting a truncated body end cleanly.
func (s *Server) read(ctx context.Context, w http.ResponseWriter, u objects.URI, t *target) error {
	streamCtx, cancel := httpx.StreamContext(ctx, s.readTimeout())
	defer cancel()
	// The reader keeps the context it was opened with for the whole body,
	// so it is opened with streamCtx, which the request deadline cancels
	// until the object is open.
	stop := context.AfterFunc(ctx, cancel)
	rd, err := t.client.Read(streamCtx, u.Bucket, u.Key)
	if !stop() {
		// ctx ended first: report its cause (a deadline is 503), not the
		// cancellation it caused.
		if err == nil {
			rd.Body.Close()
		}
		return fmt.Errorf("files: read: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	defer rd.Body.Close()
	h := w.Header()
	h.Set("Content-Type", rd.Attrs.ContentType)
	if rd.Length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(rd.Length, 10))
	}
	if !rd.Attrs.Updated.IsZero() {
		h.Set("Last-Modified", rd.Attrs.Updated.UTC().Format(http.TimeFormat))
	}
	h.Set("Cache-Control", "no-store")
	// Stored content is the agents' data, not this service's page: never
	// sniffed, never run as a document of the function's origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rd.Body); err != nil {
		s.Log.Warn("files: read cut short", "uri", u.String(), "error", err.Error())
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			_ = conn.Close()
		}
	}
	return nil
}

type objectJSON struct {
	URI         string `json:"uri"`
	Size        int64  `json:"size"`
	Updated     string `json:"updated,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

type listResponse struct {
	Objects       []objectJSON `json:"objects"`
	NextPageToken string       `json:"nextPageToken"`
}

type signResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	ExpiresAt string            `json:"expiresAt"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func wireAttrs(u objects.URI, a objects.Attrs) objectJSON {
	o := objectJSON{URI: u.Object(a.Key).String(), Size: a.Size, ContentType: a.ContentType}
	if !a.Updated.IsZero() {
		o.Updated = a.Updated.UTC().Format(time.RFC3339Nano)
	}
	return o
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, req *request, err error) {
	e := httpx.Map(err)
	attrs := []any{"path", r.URL.Path, "status", e.Status, "code", e.Code}
	if req != nil {
		attrs = append(attrs, "op", req.Op, "uri", req.URI, "agent", req.Agent, "connector", req.Connector)
	}
	if e.Status >= 500 {
		s.Log.Error("files request failed", append(attrs, "error", err.Error())...)
	} else if e.Status == http.StatusForbidden {
		s.Log.Warn("files request refused", attrs...)
	}
	httpx.WriteError(w, e)
}

// clients holds the deployment's default storage clients, made on first
// use: a function instance that only ever uses connectors never looks up
// default credentials.
type clients struct {
	mu      sync.Mutex
	gcs     objects.Client
	s3      objects.Client
	regions s3objects.RegionCache
	awsMu   sync.Mutex
	aws     *aws.Config
	httpMu  sync.Mutex
	base    *http.Transport
}
