// Package probe is the HTTP function connectors-test: an admin mints from a
// connector at its provider to check its configuration, and hears how it
// went, never the credential. It is its own function group, apart from the
// catalog functions of functions/connectors, because it alone of the admin
// functions mints and so links the minting service and the provider SDKs.
// Handlers are methods on Server, which holds every dependency, so tests
// build a Server over the embedded or emulated backends; register.go wires
// the production one.
package probe

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectors.dev/connectors/functions/internal/adminhttp"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
)

// FnTest is the function's name, as registered, deployed and served locally.
const FnTest = "connectors-test"

// Tester mints from a connector at its provider, bypassing every cache.
type Tester interface {
	Test(ctx context.Context, name string) (*mint.Credential, error)
}

// Server serves connectors-test.
type Server struct {
	Tester Tester
	Auth   adminhttp.Authenticator
	Log    *slog.Logger
	Now    func() time.Time
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnTest: http.HandlerFunc(s.Test)}
}

type testRequest struct {
	Name string `json:"name"`
}

type testResponse struct {
	OK        bool   `json:"ok"`
	ExpiresIn int64  `json:"expiresIn"`
	Scope     string `json:"scope,omitempty"`
}

// Test is connectors-test: mint at the provider and report how it went,
// without the credential. Every test, passed or failed, leaves an audit
// line.
func (s *Server) Test(w http.ResponseWriter, r *http.Request) {
	g := adminhttp.Guard{Auth: s.Auth, Log: s.Log}
	p, ok := g.Admin(w, r)
	if !ok {
		return
	}
	var req testRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		g.Fail(w, r, err)
		return
	}
	if err := connector.ValidateName(req.Name); err != nil {
		g.Fail(w, r, err)
		return
	}
	c, err := s.Tester.Test(r.Context(), req.Name)
	g.Audit(r, p, "test", req.Name, "ok", err == nil)
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	expiry := c.Expiry
	if c.AWS != nil {
		expiry = c.AWS.Expiration
	}
	httpx.WriteJSON(w, http.StatusOK, testResponse{OK: true, ExpiresIn: int64(expiry.Sub(now) / time.Second), Scope: c.Scope})
}
