package connect

import (
	"strings"
	"testing"
)

// TestURLsFromEnv: the redirect URI and the console URL are https (http
// to loopback only), without query or fragment; a bad one names its
// variable.
func TestURLsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	r, c, err := URLsFromEnv(env(map[string]string{
		"CONNECTORS_OAUTH_REDIRECT_URL": "https://console.example.com/oauth-callback",
		"CONNECTORS_CONSOLE_URL":        "https://console.example.com/console",
	}))
	if err != nil || r != "https://console.example.com/oauth-callback" || c != "https://console.example.com/console" {
		t.Fatalf("%q %q %v", r, c, err)
	}
	if _, _, err := URLsFromEnv(env(nil)); err != nil {
		t.Fatalf("unset: %v", err)
	}
	if _, _, err := URLsFromEnv(env(map[string]string{"CONNECTORS_OAUTH_REDIRECT_URL": "http://127.0.0.1:8080/oauth-callback"})); err != nil {
		t.Fatalf("loopback http: %v", err)
	}
	for name, v := range map[string]string{
		"CONNECTORS_OAUTH_REDIRECT_URL": "http://console.example.com/oauth-callback",
		"CONNECTORS_CONSOLE_URL":        "https://console.example.com/console?x=1",
	} {
		_, _, err := URLsFromEnv(env(map[string]string{name: v}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err %v, want one naming the variable", name, v, err)
		}
	}
	for _, v := range []string{"https://u:p@console.example.com/cb", "https://console.example.com/cb#f", "/oauth-callback"} {
		if _, _, err := URLsFromEnv(env(map[string]string{"CONNECTORS_OAUTH_REDIRECT_URL": v})); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}
