// Package oauthtest is for tests only: it serves a real RFC 6749
// authorization server, ORY fosite with every handler composed and an
// in-memory store, on a loopback httptest server, with helpers to register
// clients (every token endpoint authentication method) and users, consent
// at its authorization endpoint (PKCE enforced), serve its discovery
// documents, obtain and introspect tokens, and count what the token
// endpoint did.
package oauthtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
)

// Lifetimes of the tokens fosite issues, in real time.
const (
	AccessTokenLifespan  = 30 * time.Minute
	RefreshTokenLifespan = time.Hour
)

// Paths of the endpoints on Fosite.URL.
const (
	TokenPath      = "/token"
	IntrospectPath = "/introspect"
	RevokePath     = "/revoke"
	AuthorizePath  = "/authorize"
)

// introspector is the client Introspect authenticates as.
const introspectorID = "oauthtest-introspector"

// Fosite is a running authorization server. Its token endpoint is
// TokenURL(), its authorization endpoint AuthorizeURL(), its issuer URL;
// clients authenticate as registered (client_secret_basic,
// client_secret_post, private_key_jwt or none) and may use the
// client_credentials, password, refresh_token and authorization_code
// (with PKCE S256) grants. Refresh tokens rotate: each works once,
// and reusing one is invalid_grant and revokes every token of its chain.
type Fosite struct {
	*httptest.Server

	store        *store
	consent      consent
	introSecret  string
	tokenCalls   atomic.Int64
	invalidGrant atomic.Int64
}

// rsaKey signs ID tokens; generated once, since it is slow under -race.
var rsaKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// NewFosite starts a server, closed when t ends.
func NewFosite(t testing.TB) *Fosite {
	t.Helper()
	key, err := rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	globalSecret := make([]byte, 32) // HMAC-SHA512/256 wants exactly 32
	rand.Read(globalSecret)
	config := &fosite.Config{
		GlobalSecret:         globalSecret,
		AccessTokenLifespan:  AccessTokenLifespan,
		RefreshTokenLifespan: RefreshTokenLifespan,
		// The lowest bcrypt cost keeps tests fast; fosite still compares
		// hashes exactly as in production.
		HashCost:      4,
		ScopeStrategy: fosite.ExactScopeStrategy,
	}
	f := &Fosite{
		store:       &store{MemoryStore: storage.NewMemoryStore(), config: config, clients: map[string]*client{}, users: map[string]string{}},
		introSecret: rand.Text(),
	}
	f.AddClient(introspectorID, f.introSecret, true)
	// The authorization-code flow: PKCE required, S256 only.
	config.EnforcePKCE = true
	provider := compose.ComposeAllEnabled(config, f.store, key)

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, openid.NewDefaultSession())
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		// The consent step: grant what was asked (fosite checked that the
		// client may ask for it). A refresh re-grants the original scopes.
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	})
	mux.HandleFunc("POST "+IntrospectPath, func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := provider.NewIntrospectionRequest(ctx, r, openid.NewDefaultSession())
		if err != nil {
			provider.WriteIntrospectionError(ctx, w, err)
			return
		}
		provider.WriteIntrospectionResponse(ctx, w, ir)
	})
	mux.HandleFunc("POST "+RevokePath, func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		provider.WriteRevocationResponse(ctx, w, provider.NewRevocationRequest(ctx, r))
	})
	mux.HandleFunc("GET "+AuthorizePath, func(w http.ResponseWriter, r *http.Request) { f.authorize(provider, w, r) })
	mux.HandleFunc("GET "+DiscoveryPath, f.discovery)
	mux.HandleFunc("GET "+OIDCDiscoveryPath, f.discovery)
	f.Server = httptest.NewServer(f.count(mux))
	// private_key_jwt assertions must name the token endpoint (RFC 7523
	// §3), which exists only now.
	config.TokenURL = f.TokenURL()
	t.Cleanup(f.Close)
	return f
}

// count wraps h: it counts token-endpoint calls, and those answered with
// invalid_grant.
func (f *Fosite) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != TokenPath {
			h.ServeHTTP(w, r)
			return
		}
		f.tokenCalls.Add(1)
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status >= 400 {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error == "invalid_grant" {
				f.invalidGrant.Add(1)
			}
		}
	})
}

// recorder keeps the status and the start of the body of a response.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if n := 64<<10 - r.body.Len(); n > 0 {
		r.body.Write(p[:min(n, len(p))])
	}
	return r.ResponseWriter.Write(p)
}

// TokenURL is the token endpoint.
func (f *Fosite) TokenURL() string { return f.URL + TokenPath }

// TokenCalls is how many requests the token endpoint received.
func (f *Fosite) TokenCalls() int64 { return f.tokenCalls.Load() }

// InvalidGrants is how many of them were answered with invalid_grant.
func (f *Fosite) InvalidGrants() int64 { return f.invalidGrant.Load() }

// AddClient registers a confidential client that authenticates with
// client_secret_basic when basic is set, else client_secret_post, and may
// ask for scopes. Refresh tokens are issued only to clients that may ask for
// "offline" and do. It may be called while the server serves.
func (f *Fosite) AddClient(id, secret string, basic bool, scopes ...string) {
	method := "client_secret_post"
	if basic {
		method = "client_secret_basic"
	}
	f.Register(Client{ID: id, Secret: secret, Method: method, Scopes: scopes})
}

// AddUser registers a resource owner for the password grant. It may be
// called while the server serves.
func (f *Fosite) AddUser(username, password string) {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	f.store.users[username] = password
}

// TokenResponse is the token endpoint's answer, success or error.
type TokenResponse struct {
	Status           int    `json:"-"`
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// Token posts form to the token endpoint, authenticated as the registered
// client clientID with its method. Only a transport failure fails t.
func (f *Fosite) Token(t testing.TB, clientID string, form url.Values) TokenResponse {
	t.Helper()
	c := registered(t, &f.store.mu, f.store.clients, "client", clientID)
	form = cloneValues(form)
	if !c.basic {
		form.Set("client_id", clientID)
		form.Set("client_secret", c.secret)
	}
	req, err := http.NewRequest(http.MethodPost, f.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.basic {
		// RFC 6749 §2.3.1: form-encoded, then Basic.
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(c.secret))
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatalf("oauthtest: token request: %v", err)
	}
	defer resp.Body.Close()
	var out TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("oauthtest: token response (HTTP %d): %v", resp.StatusCode, err)
	}
	out.Status = resp.StatusCode
	return out
}

// RefreshToken obtains a refresh token for username with the password
// grant as clientID, asking for scopes and "offline"; any failure fails t.
func (f *Fosite) RefreshToken(t testing.TB, clientID, username string, scopes ...string) string {
	t.Helper()
	password := registered(t, &f.store.mu, f.store.users, "user", username)
	if !slices.Contains(scopes, "offline") {
		scopes = append(slices.Clone(scopes), "offline")
	}
	r := f.Token(t, clientID, url.Values{
		"grant_type": {"password"}, "username": {username}, "password": {password},
		"scope": {strings.Join(scopes, " ")},
	})
	if r.Status != http.StatusOK || r.RefreshToken == "" {
		t.Fatalf("oauthtest: password grant: HTTP %d %s %s, refresh token given: %v", r.Status, r.Error, r.ErrorDescription, r.RefreshToken != "")
	}
	return r.RefreshToken
}

// Refresh redeems refreshToken as clientID (the refresh_token grant). A
// used refresh token is answered with invalid_grant, and revokes its chain.
func (f *Fosite) Refresh(t testing.TB, clientID, refreshToken string) TokenResponse {
	t.Helper()
	return f.Token(t, clientID, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// Introspection is the RFC 7662 answer about a token.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	TokenType string `json:"token_type"`
}

// Introspect asks the server (RFC 7662) about an access or refresh token.
// Introspection does not use a refresh token: it never rotates or revokes.
func (f *Fosite) Introspect(t testing.TB, token string) Introspection {
	t.Helper()
	form := url.Values{"token": {token}}
	req, err := http.NewRequest(http.MethodPost, f.URL+IntrospectPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(introspectorID), url.QueryEscape(f.introSecret))
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatalf("oauthtest: introspection: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oauthtest: introspection: HTTP %d", resp.StatusCode)
	}
	var out Introspection
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("oauthtest: introspection: %v", err)
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+2)
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// registered returns m[key], read under mu; a key never registered fails
// t, naming what it is.
func registered[V any](t testing.TB, mu *sync.RWMutex, m map[string]V, what, key string) V {
	t.Helper()
	mu.RLock()
	v, ok := m[key]
	mu.RUnlock()
	if !ok {
		t.Fatalf("oauthtest: no %s %q", what, key)
	}
	return v
}

// store is fosite's in-memory store with clients and users of its own,
// guarded so they can be added while requests are served.
type store struct {
	*storage.MemoryStore
	config *fosite.Config

	mu      sync.RWMutex
	clients map[string]*client
	users   map[string]string // username → password
}

type client struct {
	fosite.Client
	secret string // in clear, for Token
	basic  bool
}

// GetClient implements fosite.ClientManager.
func (s *store) GetClient(_ context.Context, id string) (fosite.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, fosite.ErrNotFound
	}
	return c.Client, nil
}

// Authenticate implements the password grant's storage: the subject is the
// username.
func (s *store) Authenticate(_ context.Context, name, secret string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.users[name]; !ok || p != secret {
		return "", fosite.ErrNotFound.WithDebug("invalid credentials")
	}
	return name, nil
}

// Active asks the server (RFC 7662) whether token is an active access
// token. Unlike Introspect it returns errors, for a resource server's
// handler, where a test may not stop.
func (f *Fosite) Active(token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequest(http.MethodPost, f.URL+IntrospectPath, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(introspectorID), url.QueryEscape(f.introSecret))
	resp, err := f.Client().Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("oauthtest: introspection: HTTP %d", resp.StatusCode)
	}
	var out Introspection
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	return out.Active, nil
}

// Revoke revokes token (RFC 7009) as the client it was issued to, which
// authenticates as it was registered (basic: HTTP Basic, else the form).
func (f *Fosite) Revoke(t testing.TB, clientID, secret string, basic bool, token string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if !basic {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, f.URL+RevokePath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatalf("oauthtest: revoke: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oauthtest: revoke: HTTP %d", resp.StatusCode)
	}
}
