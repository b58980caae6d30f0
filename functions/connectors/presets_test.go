package connectors_test

import (
	"net/http"
	"testing"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
)

// TestCreateFromPreset: a preset fills what the request leaves out, the
// request's own fields win, and a bad preset or parameter is a 400 naming
// its field.
func TestCreateFromPreset(t *testing.T) {
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	status, body := e.call("connectors-create", map[string]any{
		"name": "Entra", "preset": "microsoft", "presetParams": map[string]string{"tenant": "contoso.onmicrosoft.com"},
		"clientId": "app-id", "clientSecret": gmailSecret, "scope": "offline_access Mail.Send",
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	want := map[string]any{
		"url":              "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
		"authorizationUrl": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
		"grantType":        "refresh_token",
		"clientAuthMethod": "client_secret_post",
		"scope":            "offline_access Mail.Send",
		"apiBaseUrl":       "https://graph.microsoft.com",
		"hasRefreshToken":  false,
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	status, body = e.call("connectors-create", map[string]any{
		"name": "Goog", "preset": "google", "clientId": "id", "clientSecret": gmailSecret, "headerAsPayload": true,
	})
	if status != http.StatusCreated || body["clientAuthMethod"] != "client_secret_basic" {
		t.Fatalf("headerAsPayload given with a preset: %d %v, want client_secret_basic", status, body)
	}
	if ap, _ := body["authorizationParams"].(map[string]any); ap["access_type"] != "offline" {
		t.Errorf("authorizationParams = %v", body["authorizationParams"])
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown preset", map[string]any{"name": "X", "preset": "nope"}, "preset"},
		{"missing placeholder", map[string]any{"name": "X", "preset": "zendesk", "clientId": "c"}, "presetParams.subdomain"},
		{"params without preset", map[string]any{"name": "X", "presetParams": map[string]string{"a": "b"}}, "presetParams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call("connectors-create", tc.body)
			if status != http.StatusBadRequest || errField(body) != tc.field {
				t.Fatalf("%d %v, want 400 on %s", status, body, tc.field)
			}
		})
	}
	// preset is for create only: an update naming it is refused.
	status, body = e.call("connectors-update", map[string]any{"name": "Entra", "changes": map[string]any{"preset": "google"}})
	if status != http.StatusBadRequest || errField(body) != "changes.preset" {
		t.Fatalf("update with preset: %d %v, want 400", status, body)
	}
}

// TestCreateFromIssuer: connectors-create with an issuer fills url,
// authorizationUrl and clientAuthMethod from the real authorization
// server's discovery document; an update moving the issuer fills url too,
// and so needs the secrets again; a document naming another issuer is
// refused on issuer.
func TestCreateFromIssuer(t *testing.T) {
	srv := oauthtest.NewFosite(t)
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	s := e.server
	s.Discover = connectors.NewDiscoverer(config.Config{AllowInsecureURLs: true})
	status, body := e.call("connectors-create", map[string]any{
		"name": "Disc", "issuer": srv.URL, "grantType": "refresh_token", "clientId": "c", "clientSecret": gmailSecret,
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	if body["url"] != srv.TokenURL() || body["authorizationUrl"] != srv.AuthorizeURL() || body["clientAuthMethod"] != "client_secret_basic" || body["headerAsPayload"] != true {
		t.Fatalf("create filled %v", body)
	}
	other := oauthtest.NewFosite(t)
	status, body = e.call("connectors-update", map[string]any{"name": "Disc", "changes": map[string]any{"issuer": other.URL}})
	if status != http.StatusBadRequest || errField(body) != "clientSecret" {
		t.Fatalf("moving the issuer without the secret: %d %v, want 400 on clientSecret", status, body)
	}
	status, body = e.call("connectors-update", map[string]any{"name": "Disc", "changes": map[string]any{"issuer": other.URL, "clientSecret": gmailSecret}})
	if status != http.StatusOK || body["url"] != other.TokenURL() || body["authorizationUrl"] != other.AuthorizeURL() {
		t.Fatalf("update: %d %v", status, body)
	}
	third := oauthtest.NewFosite(t) // other's document is cached now
	third.SetDiscoveryIssuer("https://impostor.example")
	status, body = e.call("connectors-create", map[string]any{"name": "Imp", "issuer": third.URL, "grantType": "client_credentials", "clientId": "c", "clientSecret": gmailSecret})
	if status != http.StatusBadRequest || errField(body) != "issuer" {
		t.Fatalf("mismatched issuer: %d %v, want 400 on issuer", status, body)
	}
}
