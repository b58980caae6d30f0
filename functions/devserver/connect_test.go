package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// TestLocalConnect: through the local run, a connector discovered from a
// loopback authorization server's issuer is connected with the
// authorization code and PKCE (consent at fosite), and then mints for its
// agent; the state cannot be replayed.
func TestLocalConnect(t *testing.T) {
	fosite := oauthtest.NewFosite(t)
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	fosite.Register(oauthtest.Client{ID: "local-app", Secret: "local-secret", Method: "client_secret_post",
		Scopes: []string{"read", "offline"}, RedirectURIs: []string{srv.URL + "/oauth-callback"}})

	body := fmt.Sprintf(`{"name":"Connected","issuer":%q,"grantType":"refresh_token","clientId":"local-app","clientSecret":"local-secret",
		"clientAuthMethod":"client_secret_post","scope":"read offline","agents":["a1"]}`, fosite.URL)
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 || out["authorizationUrl"] != fosite.AuthorizeURL() || out["url"] != fosite.TokenURL() {
		t.Fatalf("create from the issuer: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Connected","agent":"a1"}`); code != 409 {
		t.Fatalf("token before connecting: %d %v, want 409", code, out)
	}
	code, out := post(t, srv.URL+"/connectors-authorize", `{"name":"Connected"}`)
	if code != 200 {
		t.Fatalf("authorize: %d %v", code, out)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(out["authorizationUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, srv.URL+"/oauth-callback?") {
		t.Fatalf("provider redirected to %q", callback)
	}
	for i, want := range []int{http.StatusSeeOther, http.StatusBadRequest} {
		resp, err = browser.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("callback %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if i == 0 {
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc.Path != "/console" || !strings.Contains(loc.Fragment, "connect=ok") {
				t.Fatalf("callback redirected to %s", resp.Header.Get("Location"))
			}
		}
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Connected","agent":"a1"}`); code != 200 || out["access_token"] == nil {
		t.Fatalf("token after connecting: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/connectors-get", `{"name":"Connected"}`); code != 200 || out["hasRefreshToken"] != true {
		t.Fatalf("get: %d %v", code, out)
	}
}

// TestLocalConnectWithAddClient: a client registered the short way
// (AddClient, no redirect URI) is connected through the local run too: the
// test server adopts the loopback callback on first use.
func TestLocalConnectWithAddClient(t *testing.T) {
	fosite := oauthtest.NewFosite(t)
	fosite.AddClient("short-app", "short-secret", false, "read", "offline")
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	body := fmt.Sprintf(`{"name":"Short","url":%q,"authorizationUrl":%q,"grantType":"refresh_token","clientId":"short-app",
		"clientSecret":"short-secret","scope":"read offline","agents":["a1"]}`, fosite.TokenURL(), fosite.AuthorizeURL())
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	code, out := post(t, srv.URL+"/connectors-authorize", `{"name":"Short"}`)
	if code != 200 {
		t.Fatalf("authorize: %d %v", code, out)
	}
	// Following every redirect: provider → callback → console.
	resp, err := http.Get(out["authorizationUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/console" {
		t.Fatalf("ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Short","agent":"a1"}`); code != 200 || out["access_token"] == nil {
		t.Fatalf("token: %d %v", code, out)
	}
}
