package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

const (
	iapAudience      = "/projects/123456789012/global/backendServices/987654321"
	iapOtherAudience = "/projects/123456789012/global/backendServices/111111111"
	iapAppAudience   = "/projects/123456789012/apps/my-project"
)

// iapClaims returns valid IAP claims for email and iapAudience, changed by
// the given edits (a nil value deletes the claim).
func iapClaims(email string, edits map[string]any) map[string]any {
	return edited(authtest.IAPClaims(email, iapAudience), edits)
}

func iapConfig() auth.Config {
	cfg := baseConfig()
	cfg.IAPAudiences = []string{iapAudience, iapAppAudience}
	return cfg
}

// TestAuthenticateIAP covers X-Goog-IAP-JWT-Assertion with IAP configured
// ("on") and not ("off").
func TestAuthenticateIAP(t *testing.T) {
	g := authtest.NewIssuer(t)
	otherEC := authtest.NewIAPKey(t)
	authns := map[string]*auth.Authenticator{
		"on":  newAuth(t, iapConfig(), g.Client),
		"off": newAuth(t, baseConfig(), g.Client),
	}

	const (
		iap   = auth.HeaderIAPAssertion
		authz = "Authorization"
		xsa   = "X-Serverless-Authorization"
	)
	assertion := func(email string, edits map[string]any) string {
		return g.SignIAP(t, g.IAPKey, iapClaims(email, edits))
	}
	idToken := func(email string) string { return "Bearer " + g.Token(t, email, testAudience) }
	b64 := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	expired := map[string]any{"exp": now.Add(-time.Minute).Unix(), "iat": now.Add(-11 * time.Minute).Unix()}

	tests := []headerCase{
		{name: "valid admin",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, nil)}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "valid admin, App Engine audience",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"aud": iapAppAudience})}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "valid admin, upper-case email, surrounding blanks",
			mode: "on", headers: map[string][]string{iap: {" " + assertion("Admin@Example.COM", nil) + " "}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "valid agent",
			mode: "on", headers: map[string][]string{iap: {assertion(agentEmail, nil)}},
			need: auth.RoleAgent, email: agentEmail},
		{name: "agent asks for admin",
			mode: "on", headers: map[string][]string{iap: {assertion(agentEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail + " does not have the admin role"},
		{name: "unknown principal",
			mode: "on", headers: map[string][]string{iap: {assertion(otherEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: otherEmail},
		{name: "iat slightly ahead (clock skew)",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"iat": now.Add(10 * time.Second).Unix()})}},
			need: auth.RoleAdmin, email: adminEmail},

		// Refused assertions.
		{name: "wrong audience",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"aud": iapOtherAudience})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "audience"},
		{name: "function URL as audience",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"aud": testAudience})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "audience"},
		{name: "no audience",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"aud": nil})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no audience"},
		{name: "issuer accounts.google.com",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"iss": "https://accounts.google.com"})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "issuer"},
		{name: "issuer with trailing slash",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"iss": "https://cloud.google.com/iap/"})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "issuer"},
		{name: "expired",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, expired)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "expired"},
		{name: "no expiry",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"exp": nil})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no expiry"},
		{name: "issued in the future",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"iat": now.Add(5 * time.Minute).Unix()})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "issued in the future"},
		{name: "no issue time",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"iat": nil})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no issue time"},
		{name: "no subject",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"sub": nil})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no subject"},
		{name: "no email",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"email": nil})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "no email"},
		{name: "prefixed email is not stripped",
			mode: "on", headers: map[string][]string{iap: {assertion("accounts.google.com:"+adminEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not a plain email address"},
		{name: "Identity Platform identity",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"gcip": map[string]any{"firebase": map[string]any{"sign_in_provider": "password"}}})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "Identity Platform"},
		{name: "signed by another EC key",
			mode: "on", headers: map[string][]string{iap: {g.SignIAP(t, otherEC, iapClaims(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "tampered payload",
			mode: "on", headers: map[string][]string{iap: {func() string {
				parts := strings.Split(assertion(agentEmail, nil), ".")
				forged := strings.Split(assertion(adminEmail, nil), ".")
				return parts[0] + "." + forged[1] + "." + parts[2]
			}()}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "unknown key ID",
			mode: "on", headers: map[string][]string{iap: {authtest.SignES256(t, g.IAPKey, map[string]any{"alg": "ES256", "kid": "nope", "typ": "JWT"}, iapClaims(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "RS256 with the IAP issuer, signed with the ID token key",
			mode: "on", headers: map[string][]string{iap: {g.Sign(t, g.Key, iapClaims(adminEmail, nil))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not ES256"},
		{name: "Google ID token in the IAP header",
			mode: "on", headers: map[string][]string{iap: {g.Sign(t, g.Key, authtest.Claims(adminEmail, iapAudience))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not ES256"},
		{name: "alg none",
			mode: "on", headers: map[string][]string{iap: {func() string {
				h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
				c, _ := json.Marshal(iapClaims(adminEmail, nil))
				return b64(h) + "." + b64(c) + "."
			}()}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not ES256"},
		{name: "short ES256 signature",
			mode: "on", headers: map[string][]string{iap: {func() string {
				tok := assertion(adminEmail, nil)
				return tok[:strings.LastIndex(tok, ".")+1] + b64([]byte("0123456789"))
			}()}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not an ES256 signature"},
		{name: "garbage",
			mode: "on", headers: map[string][]string{iap: {"garbage-not-a-jwt-at-all"}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not a well-formed JWT"},
		{name: "bearer scheme",
			mode: "on", headers: map[string][]string{iap: {"Bearer " + assertion(adminEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "whitespace"},
		{name: "empty header",
			mode: "on", headers: map[string][]string{iap: {""}, authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "is empty"},
		{name: "two headers",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, nil), assertion(adminEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "more than one X-Goog-IAP-JWT-Assertion"},

		// The assertion alone decides when present.
		{name: "invalid assertion and valid Authorization: no fallback",
			mode: "on", headers: map[string][]string{iap: {g.SignIAP(t, otherEC, iapClaims(adminEmail, nil))}, authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "verification failed"},
		{name: "wrong-audience assertion and valid X-Serverless-Authorization: no fallback",
			mode: "on", headers: map[string][]string{iap: {assertion(adminEmail, map[string]any{"aud": iapOtherAudience})}, xsa: {idToken(adminEmail)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "audience"},
		{name: "agent assertion and admin Authorization: agent",
			mode: "on", headers: map[string][]string{iap: {assertion(agentEmail, nil)}, authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail},
		{name: "unsigned IAP identity headers are not read",
			mode: "on", headers: map[string][]string{
				iap:                               {assertion(agentEmail, nil)},
				"X-Goog-Authenticated-User-Email": {"accounts.google.com:" + adminEmail},
				"X-Goog-Authenticated-User-Id":    {"accounts.google.com:1"},
			},
			need: auth.RoleAdmin, want: auth.ErrPermissionDenied, reason: agentEmail},
		{name: "unsigned IAP identity header alone",
			mode: "on", headers: map[string][]string{"X-Goog-Authenticated-User-Email": {"accounts.google.com:" + adminEmail}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "Identity-Aware Proxy"},
		{name: "no assertion: ID tokens still work",
			mode: "on", headers: map[string][]string{authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "IAP assertion in Authorization",
			mode: "on", headers: map[string][]string{authz: {"Bearer " + assertion(adminEmail, map[string]any{"aud": testAudience})}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "issuer"},
		{name: "ES256 token with Google's issuer in Authorization",
			mode: "on", headers: map[string][]string{authz: {"Bearer " + g.SignIAP(t, g.IAPKey, authtest.Claims(adminEmail, testAudience))}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not RS256"},
		{name: "short ES256 signature in Authorization",
			mode: "on", headers: map[string][]string{authz: {func() string {
				// idtoken's ES256 check would slice this signature out of
				// range and panic; it must never get that far.
				tok := g.SignIAP(t, g.IAPKey, authtest.Claims(adminEmail, testAudience))
				return "Bearer " + tok[:strings.LastIndex(tok, ".")+1] + b64([]byte("short"))
			}()}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "not RS256"},

		// IAP not configured: the header is ignored, neither trusted nor
		// refused.
		{name: "off: valid assertion alone",
			mode: "off", headers: map[string][]string{iap: {assertion(adminEmail, nil)}},
			need: auth.RoleAdmin, want: auth.ErrUnauthenticated, reason: "missing Authorization"},
		{name: "off: valid assertion and valid Authorization",
			mode: "off", headers: map[string][]string{iap: {assertion(agentEmail, nil)}, authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, email: adminEmail},
		{name: "off: invalid assertion and valid Authorization",
			mode: "off", headers: map[string][]string{iap: {"garbage"}, authz: {idToken(adminEmail)}},
			need: auth.RoleAdmin, email: adminEmail},
	}
	runHeaderCases(t, authns, tests)
	if n := g.IAPFetches.Load(); n != 1 {
		// IAP's key set is fetched once and cached, however many audiences.
		t.Errorf("fetched IAP keys %d times, want 1", n)
	}
}

// With IAP off, the header costs nothing: no key fetch, no validator.
func TestIAPHeaderIgnoredWhenOff(t *testing.T) {
	g := authtest.NewIssuer(t)
	a := newAuth(t, baseConfig(), g.Client)
	r := request("")
	r.Header.Set(auth.HeaderIAPAssertion, g.IAPToken(t, adminEmail, iapAudience))
	if _, err := a.Authenticate(r, auth.RoleAdmin); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
	if n := g.Fetches.Load(); n != 0 {
		t.Fatalf("%d key fetches for an ignored header", n)
	}

	// In a local run too, the ignored header does not count as a token.
	cfg := baseConfig()
	cfg.Local = true
	local := newAuth(t, cfg, g.Client)
	r.RemoteAddr = "127.0.0.1:5000"
	p, err := local.Authenticate(r, auth.RoleAdmin)
	if err != nil || !p.Local {
		t.Fatalf("Authenticate = %+v, %v; want local-dev", p, err)
	}
}

// With IAP on, an assertion in a local run is verified, not replaced by
// local-dev.
func TestIAPAssertionInLocalRun(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := iapConfig()
	cfg.Local = true
	a := newAuth(t, cfg, g.Client)
	for _, tc := range []struct {
		tok  string
		want error
	}{
		{g.IAPToken(t, adminEmail, iapAudience), nil},
		{g.SignIAP(t, authtest.NewIAPKey(t), authtest.IAPClaims(adminEmail, iapAudience)), auth.ErrUnauthenticated},
	} {
		r := request("")
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set(auth.HeaderIAPAssertion, tc.tok)
		p, err := a.Authenticate(r, auth.RoleAdmin)
		if tc.want != nil {
			checkErr(t, err, tc.want, tc.tok)
			continue
		}
		if err != nil || p.Local || p.Email != adminEmail {
			t.Errorf("Authenticate = %+v, %v; want %s", p, err, adminEmail)
		}
	}
}

func TestIAPKeysUnavailable(t *testing.T) {
	g := authtest.NewIssuer(t)
	g.FailWith.Store(http.StatusServiceUnavailable)
	a := newAuth(t, iapConfig(), g.Client)
	tok := g.IAPToken(t, adminEmail, iapAudience)
	r := func() *http.Request {
		r := request("")
		r.Header.Set(auth.HeaderIAPAssertion, tok)
		return r
	}
	_, err := a.Authenticate(r(), auth.RoleAdmin)
	checkErr(t, err, auth.ErrUnavailable, tok)

	g.FailWith.Store(0)
	if _, err := a.Authenticate(r(), auth.RoleAdmin); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestIAPValidatorIsLazy(t *testing.T) {
	g := authtest.NewIssuer(t)
	a := newAuth(t, iapConfig(), g.Client)
	if n := g.Fetches.Load(); n != 0 {
		t.Fatalf("%d key fetches at construction", n)
	}
	tok := g.IAPToken(t, adminEmail, iapAppAudience)
	for range 3 {
		r := request("")
		r.Header.Set(auth.HeaderIAPAssertion, tok)
		if _, err := a.Authenticate(r, auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	if n, iap := g.Fetches.Load(), g.IAPFetches.Load(); n != 1 || iap != 1 {
		t.Fatalf("%d key fetches (%d of IAP keys) for three assertions, want 1 of IAP keys", n, iap)
	}
}
