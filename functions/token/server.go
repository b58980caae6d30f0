// Package token is the agents' function: {"connector", "agent"} in, a
// short-lived credential minted from the connector out. The minting and
// caching live in shared/mint; this package is the HTTP edge: who is
// calling, may they act for that agent, and the wire format.
package token

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/mint"
)

// FnToken is the function's name.
const FnToken = "token"

// Authenticator tells who is calling and for which agents they may act.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
	MayActFor(p auth.Principal, agent string) bool
}

// Server serves the token function.
type Server struct {
	Mint *mint.Service
	Auth Authenticator
	Log  *slog.Logger
	Now  func() time.Time

	// rendered holds, by connector name, the last credential answered and
	// its response body around expires_in (see writeToken).
	rendered sync.Map
	// lastBody is the last request body read directly (decodeRequest).
	lastBody atomic.Pointer[parsedBody]
}

type request struct {
	Connector string `json:"connector"`
	Agent     string `json:"agent"`
}

// Response is the wire form of a minted credential: an RFC 6749 §5.1 token
// response, or temporary AWS credentials.
type Response struct {
	AccessToken string          `json:"access_token,omitempty"`
	TokenType   string          `json:"token_type,omitempty"`
	ExpiresIn   int64           `json:"expires_in,omitempty"`
	ExpiresAt   string          `json:"expires_at,omitempty"`
	Scope       string          `json:"scope,omitempty"`
	Credentials *AWSCredentials `json:"credentials,omitempty"`
}

// AWSCredentials is the wire form of temporary AWS credentials.
type AWSCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      string `json:"expiration"`
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnToken: httpx.BoundedFunc(s.Token)}
}

// started is the time a request whose context is ctx is served at: the
// clock reading its deadline counts from (httpx.Started), read once for
// the mint, the body's expires_in and the audit line.
func (s *Server) started(ctx context.Context) time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return httpx.Started(ctx)
}

// Token is the token function; ctx is the request's (bounded) context.
func (s *Server) Token(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	p, err := s.Auth.Authenticate(r, auth.RoleAgent)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req request
	if err := s.decodeRequest(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Connector == "" {
		s.fail(w, r, httpx.FieldError("connector", "is required: the connector's name"))
		return
	}
	if err := connector.ValidateName(req.Connector); err != nil {
		s.fail(w, r, httpx.FieldError("connector", "is not a connector name"))
		return
	}
	if req.Agent == "" {
		s.fail(w, r, httpx.FieldError("agent", "is required: the agent ID the token is for"))
		return
	}
	if err := connector.ValidateAgent("agent", req.Agent); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.Auth.MayActFor(p, req.Agent) {
		s.refuse(w, r, p, &req, httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "%s may not act for agent %s", p.Name(), req.Agent))
		return
	}
	now := s.started(ctx)
	c, layer, err := s.Mint.TokenLayerAt(ctx, req.Connector, req.Agent, now)
	if err != nil {
		s.refuse(w, r, p, &req, err)
		return
	}
	if c.AWS != nil {
		s.audit(p, &req, "ok", layer, c.Expiry)
		resp := s.wire(c, now)
		httpx.WriteJSON(w, http.StatusOK, &resp) // a pointer: no copy into the interface
		return
	}
	s.serveToken(w, p, &req, layer, c, now) // its audit line too
}

// audit writes the one line every mint request leaves once its caller is
// known, served or refused: who asked, for which agent and connector, the
// outcome (ok or the error code), which cache layer answered and until
// when the credential is valid. Never the credential.
func (s *Server) audit(p auth.Principal, req *request, outcome string, layer mint.Layer, expiry time.Time) {
	var buf [8]slog.Attr // on the stack: logging.LogAttrs keeps none
	attrs := auditAttrs(buf[:0], p, req, outcome, layer, expiry)
	logging.LogAttrs(context.Background(), s.Log, slog.LevelInfo, "token "+outcome, attrs...)
}

// auditAttrs appends the audit line's attributes to attrs.
func auditAttrs(attrs []slog.Attr, p auth.Principal, req *request, outcome string, layer mint.Layer, expiry time.Time) []slog.Attr {
	attrs = append(attrs,
		slog.Bool("audit", true), slog.String("principal", p.Name()), slog.String("agent", req.Agent),
		slog.String("connector", req.Connector), slog.String("op", "token"), slog.String("outcome", outcome),
	)
	if layer != 0 {
		attrs = append(attrs, slog.String("cache", layer.String()), slog.Time("expiresAt", expiry))
	}
	return attrs
}

// wire renders c; expires_in counts from now, not from when the credential
// was minted, since it may come from a cache.
func (s *Server) wire(c *mint.Credential, now time.Time) Response {
	if c.AWS != nil {
		return Response{Credentials: &AWSCredentials{
			AccessKeyID:     c.AWS.AccessKeyID,
			SecretAccessKey: c.AWS.SecretAccessKey,
			SessionToken:    c.AWS.SessionToken,
			Expiration:      c.AWS.Expiration.UTC().Format(time.RFC3339),
		}}
	}
	return Response{
		AccessToken: c.AccessToken,
		TokenType:   c.TokenType,
		ExpiresIn:   expiresIn(c, now),
		ExpiresAt:   c.Expiry.UTC().Format(time.RFC3339),
		Scope:       c.Scope,
	}
}

// refuse answers a well-formed request that was refused (an agent the
// caller may not act for, or the mint's error), with its audit line.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p auth.Principal, req *request, err error) {
	e := httpx.Map(err)
	s.audit(p, req, e.Code, 0, time.Time{})
	s.write(w, r, err, e)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.write(w, r, err, httpx.Map(err))
}

// write answers err, mapped to e; server-side failures are logged with
// their cause, which never holds a secret.
func (s *Server) write(w http.ResponseWriter, r *http.Request, err error, e *httpx.Error) {
	if e.Status >= 500 {
		s.Log.Error("token request failed", "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", err.Error())
	}
	httpx.WriteError(w, e)
}
