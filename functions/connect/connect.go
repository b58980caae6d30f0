// Package connect is the connect flow: an admin connects a refresh_token
// connector's account with the OAuth authorization-code grant and PKCE
// (RFC 6749 §4.1, RFC 7636, S256 only). connectors-authorize (admin)
// answers the provider's authorization URL, with a state that is random,
// single use, valid for ten minutes and bound to the admin who asked and to
// the connector's revision, kept server-side (connector.AuthStates) with
// the PKCE verifier, which never leaves the service. oauth-callback, the
// registered redirect URI, checks the state and that the same admin
// followed it (behind the console's IAP the assertion names them),
// exchanges the code with the connector's client authentication, stores
// the refresh token through the catalog as a new secret version, and
// redirects to the console with the outcome.
//
// It is its own function group: it reads secrets and calls token
// endpoints, which the catalog functions do not.
package connect

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"connectors.dev/connectors/functions/internal/adminhttp"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint/oauth"
)

// Function names, as registered, deployed and served locally.
const (
	FnAuthorize = "connectors-authorize"
	FnCallback  = "oauth-callback"
)

// StateTTL is how long an authorization may take, consent included.
const StateTTL = 10 * time.Minute

// Server serves the connect flow.
type Server struct {
	Catalog *catalog.Catalog
	States  connector.AuthStates
	OAuth   *oauth.Client
	Auth    adminhttp.Authenticator
	Log     *slog.Logger
	// RedirectURL is the registered redirect URI, oauth-callback's URL
	// (CONNECTORS_OAUTH_REDIRECT_URL); empty derives it from the request
	// (the local run: http://HOST/oauth-callback on loopback).
	RedirectURL string
	// ConsoleURL is the console page (CONNECTORS_CONSOLE_URL): returnTo
	// must lie under it. Empty derives it from the request (HOST/console).
	ConsoleURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handlers maps each function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnAuthorize: http.HandlerFunc(s.Authorize), FnCallback: http.HandlerFunc(s.Callback)}
}

type authorizeRequest struct {
	Name     string `json:"name"`
	ReturnTo string `json:"returnTo"`
}

type authorizeResponse struct {
	AuthorizationURL string `json:"authorizationUrl"`
	ExpiresIn        int64  `json:"expiresIn"`
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) guard() adminhttp.Guard { return adminhttp.Guard{Auth: s.Auth, Log: s.Log} }

// Authorize is connectors-authorize.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) {
	g := s.guard()
	p, ok := g.Admin(w, r)
	if !ok {
		return
	}
	var req authorizeRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		g.Fail(w, r, err)
		return
	}
	if err := connector.ValidateName(req.Name); err != nil {
		g.Fail(w, r, err)
		return
	}
	returnTo, err := s.returnTo(r, req.ReturnTo)
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	conn, err := s.Catalog.Get(r.Context(), req.Name)
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	if conn.AuthorizationURL == "" {
		g.Fail(w, r, httpx.FieldError("name", "connector %s has no authorizationUrl: set it (or issuer) to connect an account", conn.Name))
		return
	}
	state, verifier := randomToken(), randomToken()
	redirectURI := s.redirectURI(r)
	st := &connector.AuthState{
		ID: StateID(state), Connector: conn.Name, Revision: conn.Revision, Principal: p.Name(),
		Verifier: verifier, RedirectURI: redirectURI, ReturnTo: returnTo, ExpiresAt: s.now().Add(StateTTL),
	}
	if err := s.States.PutAuthState(r.Context(), st); err != nil {
		g.Fail(w, r, err)
		return
	}
	u, err := url.Parse(conn.AuthorizationURL)
	if err != nil {
		g.Fail(w, r, httpx.FieldError("authorizationUrl", "is not a URL"))
		return
	}
	q := u.Query()
	for k := range q {
		if connector.IsReservedAuthorizationParam(k) {
			q.Del(k) // validation refuses these; a connector stored before keeps none
		}
	}
	for k, v := range conn.AuthorizationParams {
		if !connector.IsReservedAuthorizationParam(k) {
			q.Set(k, v)
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", conn.ClientID)
	q.Set("redirect_uri", redirectURI)
	if conn.Scope != "" {
		q.Set("scope", conn.Scope)
	} else {
		q.Del("scope")
	}
	q.Set("state", state)
	q.Set("code_challenge", Challenge(verifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	g.Audit(r, p, "authorize", conn.Name, "revision", conn.Revision)
	httpx.WriteJSON(w, http.StatusOK, authorizeResponse{AuthorizationURL: u.String(), ExpiresIn: int64(StateTTL / time.Second)})
}

// randomToken is 256 random bits, base64url: a state or a PKCE verifier
// (43 characters, within RFC 7636 §4.1's 43 to 128).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StateID is how a state is stored: its SHA-256, so that reading the
// database does not yield a usable state.
func StateID(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// Challenge is RFC 7636 §4.2's S256 code challenge of verifier.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
