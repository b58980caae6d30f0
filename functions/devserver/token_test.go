package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// TestLocalToken: through the local run, a client_credentials connector
// for a loopback provider mints a token, and a second call within its
// lifetime does not reach the provider.
func TestLocalToken(t *testing.T) {
	provider := oauthtest.NewProvider(t, "")
	provider.AccessToken = "local-access-token"

	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	body := fmt.Sprintf(`{"name":"Local","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, provider.URL)
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	for i := range 2 {
		code, out := post(t, srv.URL+"/token", `{"connector":"Local","agent":"a1"}`)
		if code != 200 || out["access_token"] != "local-access-token" || out["token_type"] != "Bearer" || out["expires_in"] == nil || out["expires_at"] == nil {
			t.Fatalf("token call %d: %d %v", i+1, code, out)
		}
	}
	if n := provider.Calls.Load(); n != 1 {
		t.Fatalf("provider called %d times, want 1", n)
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Local","agent":"a2"}`); code != 403 {
		t.Fatalf("foreign agent: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/connectors-test", `{"name":"Local"}`); code != 200 || out["ok"] != true {
		t.Fatalf("connectors-test: %d %v", code, out)
	}

	// Deactivated: refused at once by the instance that served the update.
	if code, out := post(t, srv.URL+"/connectors-update", `{"name":"Local","changes":{"active":false}}`); code != 200 {
		t.Fatalf("deactivate: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Local","agent":"a1"}`); code != 409 || errorCode(out) != "failed_precondition" {
		t.Fatalf("inactive: %d %v", code, out)
	}

	// The provider refuses the client: 502 with its RFC 6749 error.
	refusing := oauthtest.NewProvider(t, "")
	refusing.Status.Store(http.StatusUnauthorized)
	body = fmt.Sprintf(`{"name":"Refused","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, refusing.URL)
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	code, out := post(t, srv.URL+"/token", `{"connector":"Refused","agent":"a1"}`)
	e, _ := out["error"].(map[string]any)
	up, _ := e["upstream"].(map[string]any)
	if code != 502 || e["code"] != "upstream_error" || up["error"] != "invalid_client" || up["status"] != 401.0 {
		t.Fatalf("refused: %d %v", code, out)
	}
}

func errorCode(out map[string]any) any {
	e, _ := out["error"].(map[string]any)
	return e["code"]
}
