package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

// Hostile cases for audiences: an ID token minted for one function (or for
// the origin every function of a project shares) must not be accepted by
// another, neither when the function verifies the signature itself nor when
// it trusts Cloud Run's invoker check (a stripped token). The configuration
// is built from the environment, as a deployed function builds it.

const (
	projectOrigin  = "https://us-central1-proj.cloudfunctions.net"
	createURL      = projectOrigin + "/connectors-create"
	tokenFnURL     = projectOrigin + "/token"
	createRunApp   = "connectors-create-abc123xyz0-uc.a.run.app"
	filesRunAppURL = "https://files-abc123xyz0-uc.a.run.app"
)

func hostileAuth(t *testing.T, g *authtest.Issuer, env map[string]string) *auth.Authenticator {
	t.Helper()
	env["CONNECTORS_ADMINS"] = adminEmail
	cfg, err := auth.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return newAuth(t, cfg, g.Client)
}

func TestHostileTokenForAnotherFunctionIsRefused(t *testing.T) {
	g := authtest.NewIssuer(t)
	signed := func(aud string) string { return g.Token(t, adminEmail, aud) }
	stripped := func(aud string) string { return authtest.Strip(g.Token(t, adminEmail, aud)) }
	trust := map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": "true"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name  string
		env   map[string]string
		url   string // the request, Host included
		token string
	}{
		{"derived: the project's shared origin",
			map[string]string{}, createURL, signed(projectOrigin)},
		{"derived: the project's shared origin with a slash",
			map[string]string{}, createURL, signed(projectOrigin + "/")},
		{"derived: the shared origin of a host fronting several functions",
			map[string]string{}, "https://api.example.com/connectors-create", signed("https://api.example.com")},
		{"trusting Cloud Run: stripped token for another function",
			with(trust, "CONNECTORS_AUDIENCE", createURL), createURL, stripped(tokenFnURL)},
		{"trusting Cloud Run: stripped token for the shared origin",
			with(trust, "CONNECTORS_AUDIENCE", createURL), createURL, stripped(projectOrigin)},
		{"trusting Cloud Run, derived: stripped token for another function",
			with(trust), createURL, stripped(tokenFnURL)},
		{"trusting Cloud Run on run.app: stripped token for another service's run.app URL",
			with(trust, "K_SERVICE", "connectors-create"), "https://" + createRunApp + "/", stripped(filesRunAppURL)},
		{"trusting Cloud Run: stripped token for an unlisted OAuth client",
			with(trust, "CONNECTORS_AUDIENCE", createURL), createURL, stripped("1234-other.apps.googleusercontent.com")},
		{"trusting Cloud Run: stripped token for a third-party site",
			with(trust, "CONNECTORS_AUDIENCE", createURL), createURL, stripped("https://evil.example")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := hostileAuth(t, g, c.env)
			r := httptest.NewRequest(http.MethodPost, c.url, nil)
			r.RemoteAddr = "203.0.113.7:41000"
			r.Header.Set("Authorization", "Bearer "+c.token)
			p, err := a.Authenticate(r, auth.RoleAdmin)
			checkErr(t, err, auth.ErrUnauthenticated, c.token)
			if !strings.Contains(err.Error(), "audience") {
				t.Errorf("err = %q, want it to name the audience", err)
			}
			if !reflectZero(p) {
				t.Errorf("principal %+v returned with an error", p)
			}
		})
	}
}

// TestHostileSharedOriginAudienceIsRefusedInConfig: configuring the origin
// every function of the project shares as the audience would accept tokens
// minted for any of them; it is a start-up error naming the variable.
func TestHostileSharedOriginAudienceIsRefusedInConfig(t *testing.T) {
	for _, aud := range []string{projectOrigin, projectOrigin + "/", strings.ToUpper(projectOrigin)} {
		_, err := auth.ConfigFromEnv(func(k string) string {
			if k == auth.EnvAudience {
				return aud
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), auth.EnvAudience) {
			t.Errorf("%s: err = %v, want one naming %s", aud, err, auth.EnvAudience)
		}
	}
}
