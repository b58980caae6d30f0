package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// TestLocalHealth: through the local run, a provider that starts refusing
// makes connectors-list show the connector failing with the provider's
// code, and ok again once it mints after the provider recovered.
func TestLocalHealth(t *testing.T) {
	provider := oauthtest.NewProvider(t, "")
	provider.Status.Store(http.StatusUnauthorized)
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	body := fmt.Sprintf(`{"name":"Flaky","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, provider.URL)
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	stateOf := func() map[string]any {
		t.Helper()
		code, out := post(t, srv.URL+"/connectors-list", `{}`)
		items, _ := out["connectors"].([]any)
		if code != 200 || len(items) != 1 {
			t.Fatalf("list: %d %v", code, out)
		}
		return items[0].(map[string]any)
	}
	if code, out := post(t, srv.URL+"/token", `{"connector":"Flaky","agent":"a1"}`); code != 502 {
		t.Fatalf("token from a refusing provider: %d %v", code, out)
	}
	if c := stateOf(); c["state"] != "failing" || c["lastErrorCode"] != "invalid_client" || c["consecutiveFailures"] != 1.0 {
		t.Fatalf("after the refusal: %v", c)
	}
	provider.Status.Store(0)
	if code, out := post(t, srv.URL+"/token", `{"connector":"Flaky","agent":"a1"}`); code != 200 {
		t.Fatalf("token after the provider recovered: %d %v", code, out)
	}
	if c := stateOf(); c["state"] != "ok" || c["consecutiveFailures"] != 0.0 || c["lastSuccessAt"] == nil {
		t.Fatalf("after recovery: %v", c)
	}
	if code, out := post(t, srv.URL+"/connectors-list", `{"state":"failing"}`); code != 200 || len(out["connectors"].([]any)) != 0 {
		t.Fatalf("state=failing after recovery: %d %v", code, out)
	}
}
