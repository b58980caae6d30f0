package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

func discoverer() *oauth.Discoverer {
	return &oauth.Discoverer{HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second})}
}

func ptr[T any](v T) *T { return &v }

// TestDiscoveryFillsFromFosite: the real server's discovery document
// fills url, authorizationUrl and the client authentication method, and
// the URLs it gives are the server's working endpoints.
func TestDiscoveryFillsFromFosite(t *testing.T) {
	srv := newFositeServer(t)
	d := discoverer()
	in := connector.Input{Issuer: ptr(srv.URL)}
	if err := d.FillFromIssuer(context.Background(), &in, true); err != nil {
		t.Fatal(err)
	}
	if in.URL == nil || *in.URL != srv.TokenURL() || in.AuthorizationURL == nil || *in.AuthorizationURL != srv.AuthorizeURL() {
		t.Fatalf("url %v, authorizationUrl %v; want %s and %s", in.URL, in.AuthorizationURL, srv.TokenURL(), srv.AuthorizeURL())
	}
	if in.ClientAuthMethod == nil || *in.ClientAuthMethod != connector.AuthClientSecretBasic {
		t.Fatalf("clientAuthMethod = %v, want the first supported, client_secret_basic", in.ClientAuthMethod)
	}
	// Explicit fields win; a method the server does not list is refused.
	own := connector.Input{Issuer: ptr(srv.URL), URL: ptr("https://elsewhere.example/token"), ClientAuthMethod: ptr("private_key_jwt")}
	if err := d.FillFromIssuer(context.Background(), &own, false); err != nil || *own.URL != "https://elsewhere.example/token" || own.AuthorizationURL != nil {
		t.Fatalf("explicit url: %v, %v, %v", err, *own.URL, own.AuthorizationURL)
	}
	bad := connector.Input{Issuer: ptr(srv.URL), ClientAuthMethod: ptr("client_secret_jwt")}
	checkFieldErr(t, d.FillFromIssuer(context.Background(), &bad, true), "clientAuthMethod")
	// A filled connector mints at the discovered endpoint.
	conn := &connector.Connector{Name: "D", URL: *in.URL, GrantType: connector.GrantClientCredentials, Scope: "read",
		ClientID: basicClientID, ClientAuthMethod: *in.ClientAuthMethod, HeaderAsPayload: true}
	if _, err := loopbackClient().Mint(context.Background(), conn, secret.Bundle{ClientSecret: basicClientSecret}); err != nil {
		t.Fatalf("mint at the discovered token endpoint: %v", err)
	}
}

// TestDiscoveryIssuerMustMatch: RFC 8414 §3.3.
func TestDiscoveryIssuerMustMatch(t *testing.T) {
	srv := newFositeServer(t)
	srv.SetDiscoveryIssuer("https://someone-else.example")
	_, err := discoverer().Discover(context.Background(), srv.URL)
	checkFieldErr(t, err, "issuer")
}

// TestDiscoveryLocationsAndCache: the RFC 8414 location is tried after
// OpenID Connect's, with the well-known segment before the issuer's path;
// a document is fetched once per TTL; a missing one names the issuer.
func TestDiscoveryLocationsAndCache(t *testing.T) {
	var hits atomic.Int64
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/.well-known/oauth-authorization-server/tenant/a" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + issuer + `","token_endpoint":"` + issuer + `/token","authorization_endpoint":"` + issuer + `/authorize"}`))
	}))
	defer srv.Close()
	issuer = srv.URL + "/tenant/a"
	if got := oauth.WellKnownURLs(issuer); got[0] != issuer+"/.well-known/openid-configuration" || got[1] != srv.URL+"/.well-known/oauth-authorization-server/tenant/a" {
		t.Fatalf("WellKnownURLs = %v", got)
	}
	now := time.Now()
	d := discoverer()
	d.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		m, err := d.Discover(context.Background(), issuer)
		if err != nil || m.TokenEndpoint != issuer+"/token" {
			t.Fatalf("Discover: %v %+v", err, m)
		}
	}
	if hits.Load() != 2 { // the OIDC 404, then the RFC 8414 document
		t.Fatalf("%d requests, want 2 (then cached)", hits.Load())
	}
	now = now.Add(oauth.DefaultDiscoveryTTL + time.Second)
	if _, err := d.Discover(context.Background(), issuer); err != nil || hits.Load() != 4 {
		t.Fatalf("after the TTL: %v, %d requests, want 4", err, hits.Load())
	}
	_, err := d.Discover(context.Background(), srv.URL+"/nowhere")
	checkFieldErr(t, err, "issuer")
}

// TestDiscoveryGuarded: the guarded client refuses a metadata address
// before any request.
func TestDiscoveryGuarded(t *testing.T) {
	d := &oauth.Discoverer{HTTP: outbound.NewClient(outbound.Options{Timeout: 2 * time.Second})}
	_, err := d.Discover(context.Background(), "http://169.254.169.254")
	if !errors.Is(err, netguard.ErrForbidden) {
		t.Fatalf("err = %v, want netguard.ErrForbidden", err)
	}
}

func checkFieldErr(t *testing.T, err error, field string) {
	t.Helper()
	var fe *connector.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("err = %v, want a field error on %s", err, field)
	}
}
