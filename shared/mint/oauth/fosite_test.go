package oauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/secret"
)

// Clients registered at the fosite server. The Basic client's ID and secret
// carry every character RFC 6749 §2.3.1's form-encoding exists for.
const (
	basicClientID     = "basic:client%+/@&=id"
	basicClientSecret = "s3cr:et%+/@&=ü value"
	postClientID      = "post-client"
	postClientSecret  = "post secret & more=+%"
	fositeUser        = "alice"
	fositePassword    = "wonder:land%+&="
)

// fositeServer is a real RFC 6749 authorization server: ory/fosite with
// every handler composed, an in-memory store, served on loopback.
type fositeServer struct {
	*httptest.Server
	provider fosite.OAuth2Provider
}

func newFositeServer(t *testing.T) *fositeServer {
	t.Helper()
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	config := &fosite.Config{
		GlobalSecret:         []byte("0123456789abcdef0123456789abcdef"),
		AccessTokenLifespan:  30 * time.Minute,
		RefreshTokenLifespan: time.Hour,
		// The lowest bcrypt cost keeps the test fast; fosite still compares
		// hashes exactly as in production.
		HashCost:      4,
		ScopeStrategy: fosite.ExactScopeStrategy,
	}
	store := storage.NewMemoryStore()
	hash := func(s string) []byte {
		h, err := config.GetSecretsHasher(ctx).Hash(ctx, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	client := func(id, secret, method string) fosite.Client {
		return &fosite.DefaultOpenIDConnectClient{
			DefaultClient: &fosite.DefaultClient{
				ID:         id,
				Secret:     hash(secret),
				GrantTypes: []string{"client_credentials", "password", "refresh_token"},
				Scopes:     []string{"read", "write", "offline"},
			},
			TokenEndpointAuthMethod: method,
		}
	}
	store.Clients[basicClientID] = client(basicClientID, basicClientSecret, "client_secret_basic")
	store.Clients[postClientID] = client(postClientID, postClientSecret, "client_secret_post")
	// NewMemoryStore has no users (NewExampleStore has "peter"); add ours.
	store.Users[fositeUser] = storage.MemoryUserRelation{Username: fositeUser, Password: fositePassword}

	provider := compose.ComposeAllEnabled(config, store, key)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		session := openid.NewDefaultSession()
		session.Subject = fositeUser
		ar, err := provider.NewAccessRequest(ctx, r, session)
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
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := provider.NewIntrospectionRequest(ctx, r, openid.NewDefaultSession())
		if err != nil {
			provider.WriteIntrospectionError(ctx, w, err)
			return
		}
		provider.WriteIntrospectionResponse(ctx, w, ir)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fositeServer{Server: srv, provider: provider}
}

type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	TokenType string `json:"token_type"`
}

// introspect asks the server (RFC 7662) about token, authenticating as the
// Basic client.
func (s *fositeServer) introspect(t *testing.T, token string) introspection {
	t.Helper()
	form := url.Values{"token": {token}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/introspect", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(basicClientID), url.QueryEscape(basicClientSecret))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspection: HTTP %d", resp.StatusCode)
	}
	var out introspection
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func loopbackClient() *oauth.Client {
	return &oauth.Client{HTTP: oauth.NewHTTPClient(oauth.HTTPOptions{
		Policy:  netguard.Policy{AllowLoopback: true},
		Timeout: 10 * time.Second,
	})}
}

func TestFositeClientCredentials(t *testing.T) {
	srv := newFositeServer(t)
	c := loopbackClient()
	cases := []struct {
		name            string
		id, secret      string
		headerAsPayload bool
	}{
		{"client_secret_basic", basicClientID, basicClientSecret, true},
		{"client_secret_post", postClientID, postClientSecret, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := &connector.Connector{
				Name: "Fosite", URL: srv.URL + "/token", GrantType: connector.GrantClientCredentials,
				ContentType: connector.ContentTypeForm, Scope: "read write",
				ClientID: tc.id, HeaderAsPayload: tc.headerAsPayload,
			}
			before := time.Now()
			res, err := c.Mint(context.Background(), conn, secret.Bundle{ClientSecret: tc.secret})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if res.TokenType != "Bearer" || res.Scope != "read write" || res.RefreshToken != "" {
				t.Errorf("result = %v", res)
			}
			if d := res.Expiry.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
				t.Errorf("expiry in %v, want about 30m", d)
			}
			in := srv.introspect(t, res.AccessToken)
			if !in.Active || in.Scope != "read write" || in.ClientID != tc.id {
				t.Errorf("introspection = %+v", in)
			}
		})
	}

	// The other method is refused: fosite enforces token_endpoint_auth_method.
	t.Run("wrong method", func(t *testing.T) {
		conn := &connector.Connector{
			Name: "Fosite", URL: srv.URL + "/token", GrantType: connector.GrantClientCredentials,
			ClientID: postClientID, HeaderAsPayload: true,
		}
		_, err := c.Mint(context.Background(), conn, secret.Bundle{ClientSecret: postClientSecret})
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusUnauthorized || ue.Code != "invalid_client" {
			t.Fatalf("err = %v, want 401 invalid_client", err)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		conn := &connector.Connector{
			Name: "Fosite", URL: srv.URL + "/token", GrantType: connector.GrantClientCredentials,
			ClientID: basicClientID, HeaderAsPayload: true,
		}
		_, err := c.Mint(context.Background(), conn, secret.Bundle{ClientSecret: basicClientSecret + "x"})
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusUnauthorized || ue.Code != "invalid_client" {
			t.Fatalf("err = %v, want 401 invalid_client", err)
		}
		if strings.Contains(err.Error(), basicClientSecret) {
			t.Fatalf("error leaks the secret: %v", err)
		}
	})
}

func TestFositePasswordThenRefreshRotation(t *testing.T) {
	srv := newFositeServer(t)
	c := loopbackClient()
	ctx := context.Background()

	// Resource owner password credentials (RFC 6749 §4.3) with offline
	// scope yields a refresh token.
	pw := &connector.Connector{
		Name: "FositePassword", URL: srv.URL + "/token", GrantType: connector.GrantPassword,
		ContentType: connector.ContentTypeForm, Scope: "read offline",
		ClientID: postClientID, Username: fositeUser,
	}
	first, err := c.Mint(ctx, pw, secret.Bundle{ClientSecret: postClientSecret, Password: fositePassword})
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if first.RefreshToken == "" {
		t.Fatal("password grant with offline scope returned no refresh token")
	}
	if in := srv.introspect(t, first.AccessToken); !in.Active || in.Scope != "read offline" {
		t.Fatalf("introspection of password-grant token = %+v", in)
	}

	// A wrong password is invalid_grant (RFC 6749 §5.2).
	_, err = c.Mint(ctx, pw, secret.Bundle{ClientSecret: postClientSecret, Password: "nope"})
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Code != "invalid_grant" {
		t.Fatalf("wrong password: err = %v, want invalid_grant", err)
	}

	// refresh_token grant (RFC 6749 §6): fosite rotates the refresh token.
	rt := &connector.Connector{
		Name: "FositeRefresh", URL: srv.URL + "/token", GrantType: connector.GrantRefreshToken,
		ContentType: connector.ContentTypeForm, ClientID: postClientID,
	}
	second, err := c.Mint(ctx, rt, secret.Bundle{ClientSecret: postClientSecret, RefreshToken: first.RefreshToken})
	if err != nil {
		t.Fatalf("refresh grant: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh grant did not return a rotated refresh token")
	}
	if second.AccessToken == first.AccessToken {
		t.Fatal("refresh grant returned the old access token")
	}
	if in := srv.introspect(t, second.AccessToken); !in.Active || in.Scope != "read offline" {
		t.Fatalf("introspection of refreshed token = %+v", in)
	}

	// The old refresh token is now rejected.
	_, err = c.Mint(ctx, rt, secret.Bundle{ClientSecret: postClientSecret, RefreshToken: first.RefreshToken})
	if !errors.As(err, &ue) || ue.Status != http.StatusBadRequest || ue.Code != "invalid_grant" {
		t.Fatalf("reused refresh token: err = %v, want 400 invalid_grant", err)
	}
	for _, s := range []string{first.RefreshToken, second.RefreshToken, postClientSecret} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
