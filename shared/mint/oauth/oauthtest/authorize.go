package oauthtest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// Paths of the discovery documents (RFC 8414 §3, OpenID Connect Discovery
// §4) on Fosite.URL, which is the issuer.
const (
	DiscoveryPath     = "/.well-known/oauth-authorization-server"
	OIDCDiscoveryPath = "/.well-known/openid-configuration"
)

// consent is what the authorization endpoint's stand-in for a login and
// consent page decides: which user consents, or which error it answers.
type consent struct {
	mu     sync.Mutex
	user   string
	refuse string
	issuer string // the discovery documents' issuer, when overridden
}

// ConsentAs makes the authorization endpoint consent to every valid
// request as user, granting the scopes asked for: the test's stand-in for
// a user logging in and pressing "Allow". Until it is called the user is
// "alice".
func (f *Fosite) ConsentAs(user string) {
	f.consent.mu.Lock()
	defer f.consent.mu.Unlock()
	f.consent.user, f.consent.refuse = user, ""
}

// Refuse makes the authorization endpoint answer every valid request with
// the RFC 6749 §4.1.2.1 error code (access_denied: the user said no); ""
// consents again.
func (f *Fosite) Refuse(code string) {
	f.consent.mu.Lock()
	defer f.consent.mu.Unlock()
	f.consent.refuse = code
}

// SetDiscoveryIssuer makes the discovery documents claim issuer instead
// of the server's URL, for tests of RFC 8414 §3.3's check.
func (f *Fosite) SetDiscoveryIssuer(issuer string) {
	f.consent.mu.Lock()
	defer f.consent.mu.Unlock()
	f.consent.issuer = issuer
}

// AuthorizeURL is the authorization endpoint.
func (f *Fosite) AuthorizeURL() string { return f.URL + AuthorizePath }

// authorize is the authorization endpoint (RFC 6749 §4.1.1): fosite
// checks the client, redirect URI, scopes, state and PKCE challenge, and
// answers with a redirect carrying the code or the error.
func (f *Fosite) authorize(provider fosite.OAuth2Provider, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f.adoptRedirect(r.URL.Query().Get("client_id"), r.URL.Query().Get("redirect_uri"))
	ar, err := provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	f.consent.mu.Lock()
	user, refuse := f.consent.user, f.consent.refuse
	f.consent.mu.Unlock()
	if user == "" {
		user = "alice"
	}
	if refuse != "" {
		e := fosite.ErrAccessDenied
		if refuse != e.ErrorField {
			e = &fosite.RFC6749Error{ErrorField: refuse, DescriptionField: "the test server refused", CodeField: http.StatusBadRequest}
		}
		provider.WriteAuthorizeError(ctx, w, ar, e.WithDescription("The resource owner denied the request"))
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	session := openid.NewDefaultSession()
	session.Subject = user
	session.Claims.Subject = user
	resp, err := provider.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// adoptRedirect registers a loopback redirect URI for a client registered
// without any (AddClient's), on its first authorization request, so that a
// test need not know its callback's port when it registers the client.
// Clients registered with redirect URIs get fosite's exact matching.
func (f *Fosite) adoptRedirect(clientID, redirect string) {
	u, err := url.Parse(redirect)
	if clientID == "" || err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	c, ok := f.store.clients[clientID]
	if !ok {
		return
	}
	oc, ok := c.Client.(*fosite.DefaultOpenIDConnectClient)
	if !ok || len(oc.RedirectURIs) > 0 {
		return
	}
	dc := *oc.DefaultClient
	dc.RedirectURIs = []string{redirect}
	next := *oc
	next.DefaultClient = &dc
	f.store.clients[clientID] = &client{Client: &next, secret: c.secret, basic: c.basic}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// discovery serves the authorization server's metadata (RFC 8414 §2).
func (f *Fosite) discovery(w http.ResponseWriter, _ *http.Request) {
	f.consent.mu.Lock()
	issuer := f.consent.issuer
	f.consent.mu.Unlock()
	if issuer == "" {
		issuer = f.URL
	}
	writeJSON(w, map[string]any{
		"issuer":                                           issuer,
		"authorization_endpoint":                           f.AuthorizeURL(),
		"token_endpoint":                                   f.TokenURL(),
		"introspection_endpoint":                           f.URL + IntrospectPath,
		"response_types_supported":                         []string{"code"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "ES256", "ES384"},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
