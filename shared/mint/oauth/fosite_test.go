package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
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

// newFositeServer starts the authorization server with both clients and
// the user registered.
func newFositeServer(t *testing.T) *oauthtest.Fosite {
	t.Helper()
	srv := oauthtest.NewFosite(t)
	srv.AddClient(basicClientID, basicClientSecret, true, "read", "write", "offline")
	srv.AddClient(postClientID, postClientSecret, false, "read", "write", "offline")
	srv.AddUser(fositeUser, fositePassword)
	return srv
}

func loopbackClient() *oauth.Client {
	return &oauth.Client{HTTP: outbound.NewClient(outbound.Options{
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
				Name: "Fosite", URL: srv.TokenURL(), GrantType: connector.GrantClientCredentials,
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
			if d := res.Expiry.Sub(before); d < oauthtest.AccessTokenLifespan-time.Minute || d > oauthtest.AccessTokenLifespan+time.Minute {
				t.Errorf("expiry in %v, want about %v", d, oauthtest.AccessTokenLifespan)
			}
			in := srv.Introspect(t, res.AccessToken)
			if !in.Active || in.Scope != "read write" || in.ClientID != tc.id {
				t.Errorf("introspection = %+v", in)
			}
		})
	}

	// The other method is refused: fosite enforces token_endpoint_auth_method.
	t.Run("wrong method", func(t *testing.T) {
		conn := &connector.Connector{
			Name: "Fosite", URL: srv.TokenURL(), GrantType: connector.GrantClientCredentials,
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
			Name: "Fosite", URL: srv.TokenURL(), GrantType: connector.GrantClientCredentials,
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
		Name: "FositePassword", URL: srv.TokenURL(), GrantType: connector.GrantPassword,
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
	if in := srv.Introspect(t, first.AccessToken); !in.Active || in.Scope != "read offline" {
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
		Name: "FositeRefresh", URL: srv.TokenURL(), GrantType: connector.GrantRefreshToken,
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
	if in := srv.Introspect(t, second.AccessToken); !in.Active || in.Scope != "read offline" {
		t.Fatalf("introspection of refreshed token = %+v", in)
	}

	// Introspection tells the used refresh token from the current one
	// without redeeming either.
	if in := srv.Introspect(t, first.RefreshToken); in.Active {
		t.Fatalf("introspection of the used refresh token = %+v", in)
	}
	if in := srv.Introspect(t, second.RefreshToken); !in.Active {
		t.Fatalf("introspection of the current refresh token = %+v", in)
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
	// Password, wrong password, refresh, reuse; the last two are
	// invalid_grant.
	if calls, ig := srv.TokenCalls(), srv.InvalidGrants(); calls != 4 || ig != 2 {
		t.Fatalf("token calls %d, invalid_grant %d; want 4 and 2", calls, ig)
	}
	// Reuse revoked the chain: the current refresh token is dead too.
	if r := srv.Refresh(t, postClientID, second.RefreshToken); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Fatalf("refresh token after reuse of its predecessor: HTTP %d %q, want 400 invalid_grant", r.Status, r.Error)
	}
}
