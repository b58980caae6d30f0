package oauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/secret"
)

// rsaClientKey is generated once: RSA generation is slow under -race.
var rsaClientKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemKey(t *testing.T, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestClientAuthMethodsAtFosite mints with every clientAuthMethod at the
// real authorization server, each client registered there with that
// method alone, and checks the token it issued belongs to the client.
func TestClientAuthMethodsAtFosite(t *testing.T) {
	srv := newFositeServer(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(oauthtest.Client{ID: "jwt-rsa", Method: "private_key_jwt", PublicKey: rsaClientKey().Public(), KeyID: "key-1", Alg: "RS256", Scopes: []string{"read", "offline"}})
	srv.Register(oauthtest.Client{ID: "jwt-ec", Method: "private_key_jwt", PublicKey: ec.Public(), Alg: "ES256", Scopes: []string{"read"}})
	srv.Register(oauthtest.Client{ID: "public", Method: "none", Scopes: []string{"read", "offline"}})
	c := loopbackClient()
	ctx := context.Background()

	cc := func(id, method, kid string) *connector.Connector {
		return &connector.Connector{Name: "Auth", URL: srv.TokenURL(), GrantType: connector.GrantClientCredentials,
			ContentType: connector.ContentTypeForm, Scope: "read", ClientID: id, ClientAuthMethod: method, KeyID: kid,
			HeaderAsPayload: method == connector.AuthClientSecretBasic}
	}
	for _, tc := range []struct {
		name string
		conn *connector.Connector
		b    secret.Bundle
	}{
		{"client_secret_basic", cc(basicClientID, connector.AuthClientSecretBasic, ""), secret.Bundle{ClientSecret: basicClientSecret}},
		{"client_secret_post", cc(postClientID, connector.AuthClientSecretPost, ""), secret.Bundle{ClientSecret: postClientSecret}},
		{"headerAsPayload alone is client_secret_basic", &connector.Connector{Name: "Auth", URL: srv.TokenURL(), GrantType: connector.GrantClientCredentials,
			Scope: "read", ClientID: basicClientID, HeaderAsPayload: true}, secret.Bundle{ClientSecret: basicClientSecret}},
		{"private_key_jwt RS256 with kid", cc("jwt-rsa", connector.AuthPrivateKeyJWT, "key-1"), secret.Bundle{ClientSecret: pemKey(t, rsaClientKey())}},
		{"private_key_jwt ES256", cc("jwt-ec", connector.AuthPrivateKeyJWT, ""), secret.Bundle{ClientSecret: pemKey(t, ec)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Mint(ctx, tc.conn, tc.b)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if in := srv.Introspect(t, res.AccessToken); !in.Active || in.ClientID != tc.conn.ClientID {
				t.Fatalf("introspection = %+v, want active for %s", in, tc.conn.ClientID)
			}
		})
	}

	// A public client (none) refreshes with its client_id alone.
	t.Run("none", func(t *testing.T) {
		first := srv.Token(t, "public", url.Values{"grant_type": {"password"}, "username": {fositeUser}, "password": {fositePassword}, "scope": {"read offline"}, "client_id": {"public"}})
		if first.RefreshToken == "" {
			t.Fatalf("password grant for the public client: HTTP %d %s %s", first.Status, first.Error, first.ErrorDescription)
		}
		conn := &connector.Connector{Name: "Public", URL: srv.TokenURL(), GrantType: connector.GrantRefreshToken,
			ClientID: "public", ClientAuthMethod: connector.AuthNone}
		res, err := c.Mint(ctx, conn, secret.Bundle{RefreshToken: first.RefreshToken})
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		if in := srv.Introspect(t, res.AccessToken); !in.Active || in.ClientID != "public" {
			t.Fatalf("introspection = %+v", in)
		}
	})

	// The server refuses a wrong key and a method the client is not
	// registered for, and the key never shows in the error.
	refused := func(t *testing.T, conn *connector.Connector, b secret.Bundle) {
		t.Helper()
		_, err := c.Mint(ctx, conn, b)
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusUnauthorized && ue.Status != http.StatusBadRequest {
			t.Fatalf("err = %v, want the server's refusal", err)
		}
		if b.ClientSecret != "" && strings.Contains(err.Error(), b.ClientSecret) {
			t.Fatalf("error leaks the key: %v", err)
		}
	}
	t.Run("private_key_jwt with another key", func(t *testing.T) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		refused(t, cc("jwt-ec", connector.AuthPrivateKeyJWT, ""), secret.Bundle{ClientSecret: pemKey(t, other)})
	})
	t.Run("private_key_jwt for a secret client", func(t *testing.T) {
		refused(t, cc(postClientID, connector.AuthPrivateKeyJWT, ""), secret.Bundle{ClientSecret: pemKey(t, rsaClientKey())})
	})
	t.Run("none for a confidential client", func(t *testing.T) {
		refused(t, cc(postClientID, connector.AuthNone, ""), secret.Bundle{})
	})
}

// TestClientAssertionClaims checks RFC 7523 §3's claims directly.
func TestClientAssertionClaims(t *testing.T) {
	conn := &connector.Connector{Name: "A", URL: "https://login.example.com/oauth2/v1/token", ClientID: "cid", KeyID: "k1"}
	a, err := oauth.ClientAssertion(conn, pemKey(t, rsaClientKey()), fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion has %d parts", len(parts))
	}
	hdr, claims := decodeSeg(t, parts[0]), decodeSeg(t, parts[1])
	if hdr["alg"] != "RS256" || hdr["kid"] != "k1" {
		t.Errorf("header = %v", hdr)
	}
	if claims["iss"] != "cid" || claims["sub"] != "cid" || claims["aud"] != conn.URL || claims["jti"] == "" {
		t.Errorf("claims = %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 300 || int64(iat) != fixedNow.Unix() {
		t.Errorf("iat %v exp %v, want now and five minutes on", iat, exp)
	}
	if _, err := oauth.ClientAssertion(conn, "not a key", fixedNow); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Errorf("bad key: err = %v, want an error not quoting it", err)
	}
}

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func decodeSeg(t *testing.T, seg string) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
