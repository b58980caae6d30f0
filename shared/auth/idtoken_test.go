package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

func TestAuthenticate(t *testing.T) {
	g := authtest.NewIssuer(t)
	otherKey := authtest.NewKey(t)
	a := newAuth(t, baseConfig(), g.Client)

	valid := func(email string) string { return g.Sign(t, g.Key, claims(email, nil)) }
	withClaims := func(edits map[string]any) string { return g.Sign(t, g.Key, claims(adminEmail, edits)) }
	tests := []struct {
		name   string
		req    func() (*http.Request, string) // request and the token in it
		need   auth.Role
		want   error  // nil: success
		email  string // on success
		reason string // substring of the reason, on failure
	}{
		{"no token", func() (*http.Request, string) { return request(""), "" },
			auth.RoleAdmin, auth.ErrUnauthenticated, "", "missing Authorization"},
		{"basic scheme", func() (*http.Request, string) {
			r := request("")
			r.SetBasicAuth("admin", "hunter22")
			return r, ""
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "Bearer"},
		{"empty bearer", func() (*http.Request, string) {
			r := request("")
			r.Header.Set("Authorization", "Bearer ")
			return r, ""
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "Bearer"},
		{"two Authorization headers", func() (*http.Request, string) {
			tok := valid(adminEmail)
			r := request(tok)
			r.Header.Add("Authorization", "Bearer "+tok)
			return r, tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "more than one"},
		{"garbage token", func() (*http.Request, string) {
			return request("garbage-not-a-jwt-at-all"), "garbage-not-a-jwt-at-all"
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "not a well-formed JWT"},
		{"three garbage segments", func() (*http.Request, string) {
			tok := "aaaaaaaaaa.bbbbbbbbbb.cccccccccc"
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "not a well-formed JWT"},
		{"signed by another key", func() (*http.Request, string) {
			tok := g.Sign(t, otherKey, claims(adminEmail, nil))
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "verification failed"},
		{"tampered payload", func() (*http.Request, string) {
			parts := strings.Split(valid(agentEmail), ".")
			forged := strings.Split(valid(adminEmail), ".")
			tok := parts[0] + "." + forged[1] + "." + parts[2]
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "verification failed"},
		{"unknown key ID", func() (*http.Request, string) {
			tok := authtest.Sign(t, g.Key, map[string]any{"alg": "RS256", "kid": "nope", "typ": "JWT"}, claims(adminEmail, nil))
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "verification failed"},
		{"alg none", func() (*http.Request, string) {
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
			c, _ := json.Marshal(claims(adminEmail, nil))
			b64 := base64.RawURLEncoding.EncodeToString
			tok := b64(h) + "." + b64(c) + "."
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "verification failed"},
		{"ES256 without a matching IAP key", func() (*http.Request, string) {
			tok := authtest.Sign(t, g.Key, map[string]any{"alg": "ES256", "kid": authtest.KeyID, "typ": "JWT"}, claims(adminEmail, nil))
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "verification failed"},
		{"signature removed by Cloud Run", func() (*http.Request, string) {
			tok := authtest.Strip(valid(adminEmail))
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "X-Serverless-Authorization"},
		{"wrong audience", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"aud": "https://us-central1-proj.cloudfunctions.net/token"})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "audience"},
		{"no audience", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"aud": nil})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "no audience"},
		{"expired", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "expired"},
		{"no expiry", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"exp": nil})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "no expiry"},
		{"wrong issuer", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"iss": "https://evil.example.com"})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "issuer"},
		{"IAP issuer", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"iss": "https://cloud.google.com/iap"})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "issuer"},
		{"no email", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"email": nil, "email_verified": nil})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "no email"},
		{"email not verified", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"email_verified": false})
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "not verified"},
		{"valid admin", func() (*http.Request, string) {
			tok := valid(adminEmail)
			return request(tok), tok
		}, auth.RoleAdmin, nil, adminEmail, ""},
		{"valid admin, bare issuer, string email_verified, lower-cased", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"iss": "accounts.google.com", "email_verified": "true", "email": "ADMIN@example.com"})
			return request(tok), tok
		}, auth.RoleAdmin, nil, adminEmail, ""},
		{"valid admin without email_verified", func() (*http.Request, string) {
			tok := withClaims(map[string]any{"email_verified": nil})
			return request(tok), tok
		}, auth.RoleAdmin, nil, adminEmail, ""},
		{"lower-case bearer scheme", func() (*http.Request, string) {
			tok := valid(adminEmail)
			r := request("")
			r.Header.Set("Authorization", "bearer "+tok)
			return r, tok
		}, auth.RoleAdmin, nil, adminEmail, ""},
		{"valid agent", func() (*http.Request, string) {
			tok := valid(agentEmail)
			return request(tok), tok
		}, auth.RoleAgent, nil, agentEmail, ""},
		{"agent asks for admin", func() (*http.Request, string) {
			tok := valid(agentEmail)
			return request(tok), tok
		}, auth.RoleAdmin, auth.ErrPermissionDenied, "", "admin role"},
		{"admin asks for agent", func() (*http.Request, string) {
			tok := valid(adminEmail)
			return request(tok), tok
		}, auth.RoleAgent, auth.ErrPermissionDenied, "", "agent role"},
		{"unknown principal", func() (*http.Request, string) {
			tok := valid(otherEmail)
			return request(tok), tok
		}, auth.RoleAgent, auth.ErrPermissionDenied, "", otherEmail},
		{"zero role fails closed", func() (*http.Request, string) {
			tok := valid(adminEmail)
			return request(tok), tok
		}, auth.Role(0), auth.ErrPermissionDenied, "", "Role(0)"},
		{"loopback without token, not local", func() (*http.Request, string) {
			r := request("")
			r.RemoteAddr = "127.0.0.1:5555"
			return r, ""
		}, auth.RoleAdmin, auth.ErrUnauthenticated, "", "missing Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, tok := tt.req()
			p, err := a.Authenticate(r, tt.need)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if p.Email != tt.email || p.Name() != tt.email || p.String() != tt.email || p.Local {
					t.Errorf("principal = %+v, want %s", p, tt.email)
				}
				if !p.Has(tt.need) {
					t.Errorf("principal %+v lacks %v", p, tt.need)
				}
				return
			}
			checkErr(t, err, tt.want, tok)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tt.reason)
			}
			if !reflectZero(p) {
				t.Errorf("principal %+v returned with an error", p)
			}
		})
	}
	if n := g.Fetches.Load(); n > 2 {
		// One fetch per cert URL; the Cache-Control header keeps them.
		t.Errorf("fetched keys %d times, want at most 2 (cached)", n)
	}
}

// TestAuthenticateCloudRun covers the two headers Cloud Run may forward and
// the signatures it strips, with and without Config.TrustCloudRunIAM.
func TestAuthenticateCloudRun(t *testing.T) {
	g := authtest.NewIssuer(t)
	otherKey := authtest.NewKey(t)

	trusting := baseConfig()
	trusting.TrustCloudRunIAM = true
	derived := trusting
	derived.Audience = ""
	authns := map[string]*auth.Authenticator{
		"on":         newAuth(t, trusting, g.Client),
		"on derived": newAuth(t, derived, g.Client),
		"off":        newAuth(t, baseConfig(), g.Client),
	}

	valid := func(email string) string { return g.Token(t, email, testAudience) }
	stripped := func(email string, edits map[string]any) string {
		return authtest.Strip(g.Sign(t, g.Key, claims(email, edits)))
	}
	forged := func(email string) string { return g.Sign(t, otherKey, claims(email, nil)) }
	bearer := func(tok string) string { return "Bearer " + tok }
	expired := map[string]any{"exp": time.Now().Add(-time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()}
	// Cloud Run checks both of these; a stripped one was checked.
	const (
		authz = "Authorization"
		xsa   = "X-Serverless-Authorization"
	)

	tests := []headerCase{
		// Trusting Cloud Run's invoker check.
		{name: "on: stripped Authorization only",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: stripped X-S-A, garbage Authorization",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(agentEmail, nil))}, authz: {"Bearer garbage"}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "on: stripped X-S-A, Basic Authorization",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(agentEmail, nil))}, authz: {"Basic YWRtaW46aHVudGVyMg=="}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "on: stripped X-S-A, Authorization for another service",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(agentEmail, nil))}, authz: {bearer(g.Token(t, adminEmail, "https://elsewhere.example.com"))}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "on: stripped X-S-A only",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(agentEmail, nil))}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "on: valid X-S-A for agent, forged stripped admin Authorization: agent",
			mode: "on", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "on: valid X-S-A for agent, forged stripped admin Authorization: no admin",
			mode: "on", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail + " does not have the admin role"},
		{name: "on: stripped X-S-A for agent, forged stripped admin Authorization: no admin",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(agentEmail, nil))}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail},
		{name: "on: valid X-S-A for agent, valid admin Authorization: no admin",
			mode: "on", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail},
		{name: "on: malformed X-S-A does not fall back to stripped Authorization",
			mode: "on", headers: map[string][]string{xsa: {"garbage"}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "X-Serverless-Authorization header must be"},
		{name: "on: empty X-S-A does not fall back to stripped Authorization",
			mode: "on", headers: map[string][]string{xsa: {""}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "X-Serverless-Authorization"},
		{name: "on: two X-S-A headers",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, nil)), bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "more than one X-Serverless-Authorization"},
		{name: "on: X-S-A with a bad real signature is verified",
			mode: "on", headers: map[string][]string{xsa: {bearer(forged(adminEmail))}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "on: valid Authorization is verified",
			mode: "on", headers: map[string][]string{authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: Authorization with a bad real signature",
			mode: "on", headers: map[string][]string{authz: {bearer(forged(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "on: almost stripped signature is verified",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, nil) + "X")}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "on: lower-case stripped marker is verified",
			mode: "on", headers: map[string][]string{authz: {bearer(strings.TrimSuffix(stripped(adminEmail, nil), authtest.SignatureRemoved) + strings.ToLower(authtest.SignatureRemoved))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "on: stripped, expired",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, expired))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "expired"},
		{name: "on: stripped X-S-A, expired",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, expired))}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "expired"},
		{name: "on: stripped, no expiry",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, map[string]any{"exp": nil}))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no expiry"},
		// Cloud Run checked a stripped token's audience for this service; a
		// user's gcloud-minted token has gcloud's client ID as audience.
		{name: "on: stripped user token with gcloud's audience",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, map[string]any{"aud": "32555940559.apps.googleusercontent.com"}))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: stripped X-S-A user token with gcloud's audience",
			mode: "on", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, map[string]any{"aud": "32555940559.apps.googleusercontent.com"}))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: a signed token for gcloud's client ID is accepted like a stripped one",
			mode: "on", headers: map[string][]string{authz: {bearer(g.Sign(t, g.Key, authtest.Claims(adminEmail, "32555940559.apps.googleusercontent.com")))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: a signed token's audience is still ours to check",
			mode: "on", headers: map[string][]string{authz: {bearer(g.Sign(t, g.Key, authtest.Claims(adminEmail, "1234-other.apps.googleusercontent.com")))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "audience"},
		{name: "on: stripped, wrong issuer",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, map[string]any{"iss": "https://evil.example.com"}))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "issuer"},
		{name: "on: stripped, no email",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, map[string]any{"email": nil}))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no email"},
		{name: "on: stripped, email not verified",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(adminEmail, map[string]any{"email_verified": false}))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not verified"},
		{name: "on: stripped, bare issuer, string email_verified, lower-cased",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped("ADMIN@example.com", map[string]any{"iss": "accounts.google.com", "email_verified": "true"}))}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "on: stripped, not a JWT payload",
			mode: "on", headers: map[string][]string{authz: {"Bearer aaaaaaaaaa.bbbbbbbbbb." + authtest.SignatureRemoved}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not a well-formed JWT"},
		{name: "on: stripped, unknown principal",
			mode: "on", headers: map[string][]string{authz: {bearer(stripped(otherEmail, nil))}},
			need: auth.RoleAgent, want: auth.ErrPermissionDenied, reason: otherEmail},
		{name: "on derived: stripped, own URL",
			mode: "on derived", headers: map[string][]string{authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, email: adminEmail},

		// Verifying every signature ourselves (today's behaviour).
		{name: "off: stripped Authorization",
			mode: "off", headers: map[string][]string{authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "send the same ID token in X-Serverless-Authorization"},
		{name: "off: valid X-S-A only",
			mode: "off", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "off: valid X-S-A is preferred",
			mode: "off", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "off: valid X-S-A for agent, forged stripped admin Authorization",
			mode: "off", headers: map[string][]string{xsa: {bearer(valid(agentEmail))}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail},
		{name: "off: stripped X-S-A, same token intact in Authorization",
			mode: "off", headers: func() map[string][]string {
				tok := valid(adminEmail)
				return map[string][]string{xsa: {bearer(authtest.Strip(tok))}, authz: {bearer(tok)}}
			}(),
			need: auth.RoleAdmin, email: adminEmail},
		{name: "off: stripped X-S-A, forged Authorization",
			mode: "off", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, nil))}, authz: {bearer(forged(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "off: stripped X-S-A and stripped Authorization",
			mode: "off", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, nil))}, authz: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "signature was removed"},
		{name: "off: stripped X-S-A only",
			mode: "off", headers: map[string][]string{xsa: {bearer(stripped(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "send the same ID token in Authorization"},
		{name: "off: X-S-A with a bad signature",
			mode: "off", headers: map[string][]string{xsa: {bearer(forged(adminEmail))}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "off: malformed X-S-A",
			mode: "off", headers: map[string][]string{xsa: {"Bearer not-a-jwt-at-all"}, authz: {bearer(valid(adminEmail))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "in X-Serverless-Authorization is not a well-formed JWT"},
	}
	runHeaderCases(t, authns, tests)
}
