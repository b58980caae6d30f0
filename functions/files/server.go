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
// either. The storage itself is behind shared/objects: the rules of what a
// grant may give (objects.GrantFor), and the making of a client from a
// credential (shared/objects/connect).
//
// A request goes through Files in four steps, each in its own file:
// decode and validate (request.go), authorize and pick the credentials
// (access.go, target.go), call the storage and render the answer (ops.go).
package files

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/connect"
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
	// DefaultGrantRole is what grantAccess gives when no role is named
	// (objects.GrantFor has the rules).
	DefaultGrantRole = objects.DefaultGrantRole
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

	clientsOnce sync.Once
	clients     *connect.Clients
	writes      writeGate
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnFiles: http.HandlerFunc(s.Files)}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
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
			s.count(r.Context(), "", err)
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
	if err := s.do(r.Context(), w, p, &req, ""); err != nil {
		s.fail(w, r, &req, err)
	}
}

// do runs a decoded request for p: validate, authorize, pick the
// credentials, call the storage, answer on w, audit. An error is returned
// before anything is written.
func (s *Server) do(ctx context.Context, w http.ResponseWriter, p auth.Principal, req *request, via string) (err error) {
	defer func() { s.count(ctx, req.Op, err) }()
	u, err := s.validate(req)
	if err != nil {
		return err
	}
	if !s.Auth.MayActFor(p, req.Agent) {
		return httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "%s may not act for agent %s", p.Name(), req.Agent)
	}
	if req.Connector == "" {
		if err := s.checkDefaultAccess(req, u); err != nil {
			return err
		}
	}
	t, err := s.target(ctx, req, u)
	if err != nil {
		return err
	}
	defer t.close()
	if err := s.run(ctx, w, req, u, t); err != nil {
		return err
	}
	s.audit(p, req, u, via)
	return nil
}

// audit writes the line every successful operation leaves: who, for which
// agent, with whose credentials, what, where. Never a credential, a signed
// URL or the data.
func (s *Server) audit(p auth.Principal, req *request, u objects.URI, via string) {
	conn := req.Connector
	if conn == "" {
		conn = "default identity"
	}
	attrs := []any{"audit", true, "principal", p.Name(), "agent", req.Agent, "connector", conn,
		"op", req.Op, "uri", u.String(), "outcome", "ok"}
	if via != "" {
		attrs = append(attrs, "via", via)
	}
	s.Log.Info("files "+req.Op, attrs...)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, req *request, err error) {
	if req == nil { // refused before do, which counts the others
		s.count(r.Context(), "", err)
	}
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
