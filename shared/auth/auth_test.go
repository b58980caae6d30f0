package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

const (
	testAudience = "https://us-central1-proj.cloudfunctions.net/connectors-create"
	adminEmail   = "admin@example.com"
	agentEmail   = "runtime@proj.iam.gserviceaccount.com"
	otherEmail   = "stranger@example.com"
)

// claims returns valid claims for email and testAudience, changed by the
// given edits (a nil value deletes the claim).
func claims(email string, edits map[string]any) map[string]any {
	c := authtest.Claims(email, testAudience)
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://us-central1-proj.cloudfunctions.net/connectors-create", nil)
	r.RemoteAddr = "203.0.113.7:41000"
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func newAuth(t *testing.T, cfg auth.Config, keys *http.Client) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(cfg, keys)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func baseConfig() auth.Config {
	return auth.Config{
		Audience: testAudience,
		Admins:   []string{"user:Admin@Example.com"},
		Agents:   []string{"serviceAccount:" + agentEmail},
	}
}

// checkErr asserts err wraps want, maps to status, and does not leak token.
func checkErr(t *testing.T, err, want error, status int, token string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if got := auth.HTTPStatus(err); got != status {
		t.Errorf("HTTPStatus = %d, want %d", got, status)
	}
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.HTTPStatus() != status || ae.Reason == "" {
		t.Errorf("err %v is not an *auth.Error with status %d and a reason", err, status)
	}
	if token == "" {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, token) {
		t.Errorf("error message contains the token: %s", msg)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Errorf("error message contains part of the token: %s", msg)
		}
	}
}

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
			status := map[error]int{auth.ErrUnauthenticated: 401, auth.ErrPermissionDenied: 403}[tt.want]
			checkErr(t, err, tt.want, status, tok)
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

func reflectZero(p auth.Principal) bool { return p.Email == "" && p.Roles == nil && !p.Local }

func TestAuthenticateDerivedAudience(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := baseConfig()
	cfg.Audience = ""
	a := newAuth(t, cfg, g.Client)

	tests := []struct {
		url, aud string
		ok       bool
	}{
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app", true},
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app/", true},
		{"https://token-abc-uc.a.run.app/x/y", "https://token-abc-uc.a.run.app", true},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/token", true},
		{"https://r-p.cloudfunctions.net/token/sub", "https://r-p.cloudfunctions.net/token", true},
		{"https://TOKEN-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app", true},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/tok", false},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/token/more", false},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/files", false},
		{"https://token-abc-uc.a.run.app/", "http://token-abc-uc.a.run.app", false},
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app.evil.com", false},
		{"https://token-abc-uc.a.run.app/", "https://other-abc-uc.a.run.app", false},
		{"https://token-abc-uc.a.run.app/", "token-abc-uc.a.run.app", false},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.aud, func(t *testing.T) {
			tok := g.Sign(t, g.Key, claims(agentEmail, map[string]any{"aud": tt.aud}))
			r := httptest.NewRequest(http.MethodPost, tt.url, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			p, err := a.Authenticate(r, auth.RoleAgent)
			if tt.ok {
				if err != nil || p.Email != agentEmail {
					t.Fatalf("Authenticate = %+v, %v; want %s", p, err, agentEmail)
				}
				return
			}
			checkErr(t, err, auth.ErrUnauthenticated, 401, tok)
		})
	}

	t.Run("no host", func(t *testing.T) {
		tok := g.Sign(t, g.Key, claims(agentEmail, map[string]any{"aud": "https://"}))
		r := request(tok)
		r.Host = ""
		_, err := a.Authenticate(r, auth.RoleAgent)
		checkErr(t, err, auth.ErrUnauthenticated, 401, tok)
	})
}

func TestAuthenticateLocal(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := baseConfig()
	cfg.Local = true
	a := newAuth(t, cfg, g.Client)

	tests := []struct {
		name   string
		remote string
		token  string
		want   error
		email  string
	}{
		{"IPv4 loopback", "127.0.0.1:5000", "", nil, auth.LocalDev},
		{"all of 127/8", "127.8.9.10:5000", "", nil, auth.LocalDev},
		{"IPv6 loopback", "[::1]:5000", "", nil, auth.LocalDev},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:5000", "", nil, auth.LocalDev},
		{"private network", "10.1.2.3:5000", "", auth.ErrUnauthenticated, ""},
		{"public", "203.0.113.7:5000", "", auth.ErrUnauthenticated, ""},
		{"unspecified", "[::]:5000", "", auth.ErrUnauthenticated, ""},
		{"no port", "127.0.0.1", "", auth.ErrUnauthenticated, ""},
		{"empty", "", "", auth.ErrUnauthenticated, ""},
		{"hostname", "localhost:5000", "", auth.ErrUnauthenticated, ""},
		{"loopback with valid token is verified", "127.0.0.1:5000",
			g.Sign(t, g.Key, claims(adminEmail, nil)), nil, adminEmail},
		{"loopback with bad token is refused", "127.0.0.1:5000",
			g.Sign(t, authtest.NewKey(t), claims(adminEmail, nil)), auth.ErrUnauthenticated, ""},
	}

	// A token in X-Serverless-Authorization is a token too: it is verified,
	// not replaced by local-dev.
	for _, tok := range []string{
		g.Sign(t, authtest.NewKey(t), claims(adminEmail, nil)),
		authtest.Strip(g.Token(t, adminEmail, testAudience)),
	} {
		r := request("")
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set("X-Serverless-Authorization", "Bearer "+tok)
		_, err := a.Authenticate(r, auth.RoleAdmin)
		checkErr(t, err, auth.ErrUnauthenticated, 401, tok)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.token)
			r.RemoteAddr = tt.remote
			p, err := a.Authenticate(r, auth.RoleAdmin)
			if tt.want != nil {
				checkErr(t, err, tt.want, 401, tt.token)
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Email != tt.email || p.Name() != tt.email || p.String() != tt.email {
				t.Fatalf("principal = %+v, want %s", p, tt.email)
			}
			if tt.email == auth.LocalDev && (!p.Local || !p.Has(auth.RoleAdmin) || !p.Has(auth.RoleAgent)) {
				t.Errorf("local-dev principal = %+v, want Local with both roles", p)
			}
		})
	}
}

func TestAuthenticateKeysUnavailable(t *testing.T) {
	g := authtest.NewIssuer(t)
	g.FailWith.Store(http.StatusInternalServerError)
	a := newAuth(t, baseConfig(), g.Client)
	tok := g.Sign(t, g.Key, claims(adminEmail, nil))
	_, err := a.Authenticate(request(tok), auth.RoleAdmin)
	checkErr(t, err, auth.ErrUnavailable, 503, tok)

	// Recovery: the failure was not cached.
	g.FailWith.Store(0)
	if _, err := a.Authenticate(request(tok), auth.RoleAdmin); err != nil {
		t.Fatalf("after recovery: %v", err)
	}

	// An unreachable key server is unavailability too, not a bad token.
	dead := newAuth(t, baseConfig(), authtest.KeysClient(t, "http://127.0.0.1:1"))
	_, err = dead.Authenticate(request(tok), auth.RoleAdmin)
	checkErr(t, err, auth.ErrUnavailable, 503, tok)
}

func TestValidatorIsLazy(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := baseConfig()
	cfg.Local = true
	a := newAuth(t, cfg, g.Client)
	r := request("")
	r.RemoteAddr = "127.0.0.1:1"
	if _, err := a.Authenticate(r, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(request(""), auth.RoleAdmin); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("err = %v", err)
	}
	if n := g.Fetches.Load(); n != 0 {
		t.Fatalf("%d key fetches before any token was seen", n)
	}
	tok := g.Sign(t, g.Key, claims(adminEmail, nil))
	for range 3 {
		if _, err := a.Authenticate(request(tok), auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches for three tokens, want 1", n)
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	g := authtest.NewIssuer(t)
	a := newAuth(t, baseConfig(), g.Client)
	tok := g.Sign(t, g.Key, claims(adminEmail, nil))
	errs := make(chan error, 16)
	for range cap(errs) {
		go func() {
			_, err := a.Authenticate(request(tok), auth.RoleAdmin)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestMayActFor(t *testing.T) {
	const sa1, sa2 = "sa1@p.iam.gserviceaccount.com", "sa2@p.iam.gserviceaccount.com"
	agent := func(email string) auth.Principal {
		return auth.Principal{Email: email, Roles: []auth.Role{auth.RoleAgent}}
	}
	admin := auth.Principal{Email: adminEmail, Roles: []auth.Role{auth.RoleAdmin}}
	local := auth.Principal{Email: auth.LocalDev, Roles: []auth.Role{auth.RoleAdmin, auth.RoleAgent}, Local: true}

	unbound := auth.Config{Agents: []string{sa1, sa2}}
	bound := auth.Config{AgentBindings: map[string][]string{
		"agentA": {"serviceAccount:" + sa1},
		"agentB": {sa1, "serviceAccount:SA2@p.iam.gserviceaccount.com"},
	}}
	localBound := bound
	localBound.Local = true

	tests := []struct {
		name  string
		cfg   auth.Config
		p     auth.Principal
		agent string
		want  bool
	}{
		{"no bindings: any agent principal", unbound, agent(sa1), "anything", true},
		{"no bindings: other agent principal", unbound, agent(sa2), "agentA", true},
		{"no bindings: admin is not an agent", unbound, admin, "agentA", false},
		{"no bindings: empty agent ID", unbound, agent(sa1), "", false},
		{"bound", bound, agent(sa1), "agentA", true},
		{"bound to two", bound, agent(sa1), "agentB", true},
		{"bound, case-insensitive", bound, agent("SA2@P.iam.gserviceaccount.com"), "agentB", true},
		{"not bound to this agent", bound, agent(sa2), "agentA", false},
		{"agent without bindings", bound, agent(sa1), "agentC", false},
		{"bound principal lacking role", bound, auth.Principal{Email: sa1}, "agentA", false},
		{"local-dev in local mode", localBound, local, "agentC", true},
		{"local-dev outside local mode", bound, local, "agentA", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, tt.cfg, nil)
			if got := a.MayActFor(tt.p, tt.agent); got != tt.want {
				t.Errorf("MayActFor(%v, %q) = %v, want %v", tt.p, tt.agent, got, tt.want)
			}
		})
	}
}

// Bound principals get the agent role from the binding alone, so that the
// binding list need not be repeated in Agents.
func TestBindingGrantsAgentRole(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := auth.Config{Audience: testAudience, AgentBindings: map[string][]string{"agentA": {agentEmail}}}
	a := newAuth(t, cfg, g.Client)
	p, err := a.Authenticate(request(g.Sign(t, g.Key, claims(agentEmail, nil))), auth.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	if !a.MayActFor(p, "agentA") || a.MayActFor(p, "agentB") {
		t.Errorf("bindings not applied to %+v", p)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"group admin", auth.Config{Admins: []string{"group:admins@example.com"}}, "Config.Admins"},
		{"not an email", auth.Config{Agents: []string{"runtime"}}, "Config.Agents"},
		{"empty agent ID", auth.Config{AgentBindings: map[string][]string{"": {agentEmail}}}, "empty agent ID"},
		{"empty binding", auth.Config{AgentBindings: map[string][]string{"a": nil}}, "no principals"},
		{"bad bound member", auth.Config{AgentBindings: map[string][]string{"a": {"x"}}}, `AgentBindings["a"]`},
		{"trust Cloud Run in a local run", auth.Config{Local: true, TrustCloudRunIAM: true}, "TrustCloudRunIAM"},
		{"IAP audience is a URL", auth.Config{IAPAudiences: []string{"https://console.example.com"}}, "Config.IAPAudiences"},
		{"empty IAP audience", auth.Config{IAPAudiences: []string{" "}}, "Config.IAPAudiences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.New(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestRoleString(t *testing.T) {
	got := []string{auth.RoleAdmin.String(), auth.RoleAgent.String(), auth.Role(9).String()}
	if want := []string{"admin", "agent", "Role(9)"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if auth.HTTPStatus(errors.New("other")) != 500 {
		t.Error("unrelated errors must map to 500")
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

// headerCase is one request, by the headers it carries, to one of a test's
// authenticators, and what Authenticate must make of it.
type headerCase struct {
	name    string
	mode    string              // key of the authenticators
	headers map[string][]string // values as sent
	need    auth.Role
	want    error  // nil: success
	email   string // on success
	reason  string // substring of the reason, on failure
}

func runHeaderCases(t *testing.T, authns map[string]*auth.Authenticator, tests []headerCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := authns[tt.mode]
			if a == nil {
				t.Fatalf("no authenticator for mode %q", tt.mode)
			}
			r := request("")
			for name, values := range tt.headers {
				for _, v := range values {
					r.Header.Add(name, v)
				}
			}
			p, err := a.Authenticate(r, tt.need)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if p.Email != tt.email || p.Local || !p.Has(tt.need) {
					t.Errorf("principal = %+v, want %s with %v", p, tt.email, tt.need)
				}
				return
			}
			status := map[error]int{auth.ErrUnauthenticated: 401, auth.ErrPermissionDenied: 403}[tt.want]
			for _, values := range tt.headers {
				for _, v := range values {
					// The token as sent, without its scheme: no error may quote it.
					tok := strings.TrimSpace(v)
					if _, after, ok := strings.Cut(tok, " "); ok {
						tok = after
					}
					checkErr(t, err, tt.want, status, tok)
				}
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %q, want it to mention %q", err, tt.reason)
			}
			if !reflectZero(p) {
				t.Errorf("principal %+v returned with an error", p)
			}
		})
	}
}

// TestAudienceFunctionURLs: what a deployment accepts, configured as
// Terraform configures it: the function's cloudfunctions.net and run.app
// URLs, the run.app URL Cloud Run reports (from Host and K_SERVICE), and
// gcloud's client ID, so that `gcloud functions call` keeps working.
func TestAudienceFunctionURLs(t *testing.T) {
	g := authtest.NewIssuer(t)
	const (
		cfURL     = "https://europe-west1-proj.cloudfunctions.net/token"
		detURL    = "https://token-123456789012.europe-west1.run.app"
		hashHost  = "token-abc123xyz0-ew.a.run.app"
		otherHash = "files-abc123xyz0-ew.a.run.app"
	)
	env := map[string]string{
		"CONNECTORS_AUDIENCE":            cfURL + "," + detURL,
		"K_SERVICE":                      "token",
		"CONNECTORS_TRUST_CLOUD_RUN_IAM": "true",
		"CONNECTORS_AGENT_PRINCIPALS":    agentEmail,
	}
	build := func(edits map[string]string) *auth.Authenticator {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range edits {
			e[k] = v
		}
		cfg, err := auth.ConfigFromEnv(func(k string) string { return e[k] })
		if err != nil {
			t.Fatal(err)
		}
		return newAuth(t, cfg, g.Client)
	}
	deployed := build(nil)
	noClients := build(map[string]string{"CONNECTORS_CLIENT_IDS": "none"})
	otherClient := build(map[string]string{"CONNECTORS_CLIENT_IDS": "99-mine.apps.googleusercontent.com"})

	cases := []struct {
		name string
		a    *auth.Authenticator
		url  string
		aud  string
		ok   bool
	}{
		{"cloudfunctions.net URL", deployed, cfURL, cfURL, true},
		{"cloudfunctions.net URL, slash", deployed, cfURL, cfURL + "/", true},
		{"cloudfunctions.net URL on run.app", deployed, "https://" + hashHost + "/", cfURL, true},
		{"deterministic run.app URL", deployed, detURL + "/", detURL, true},
		{"Cloud Run's reported URL", deployed, "https://" + hashHost + "/", "https://" + hashHost, true},
		{"Cloud Run's reported URL, other Host", deployed, "https://token-123456789012.europe-west1.run.app/", "https://" + hashHost, false},
		{"another service's run.app URL", deployed, "https://" + otherHash + "/", "https://" + otherHash, false},
		{"a look-alike run.app URL", deployed, "https://token-evil-abc123xyz0-ew.a.run.app/", "https://token-evil-abc123xyz0-ew.a.run.app", false},
		{"another function", deployed, cfURL, "https://europe-west1-proj.cloudfunctions.net/files", false},
		{"the shared origin", deployed, cfURL, "https://europe-west1-proj.cloudfunctions.net", false},
		{"a path below the function", deployed, cfURL, cfURL + "/x", false},
		{"gcloud's client ID", deployed, cfURL, auth.GcloudClientID, true},
		{"gcloud's client ID, none allowed", noClients, cfURL, auth.GcloudClientID, false},
		{"gcloud's client ID, another allowed", otherClient, cfURL, auth.GcloudClientID, false},
		{"an allowed client ID", otherClient, cfURL, "99-mine.apps.googleusercontent.com", true},
	}
	for _, c := range cases {
		for _, strip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stripped=%v", c.name, strip), func(t *testing.T) {
				tok := g.Token(t, agentEmail, c.aud)
				if strip {
					tok = authtest.Strip(tok)
				}
				r := httptest.NewRequest(http.MethodPost, c.url, nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				p, err := c.a.Authenticate(r, auth.RoleAgent)
				if c.ok {
					if err != nil || p.Email != agentEmail {
						t.Fatalf("Authenticate = %+v, %v; want %s", p, err, agentEmail)
					}
					return
				}
				checkErr(t, err, auth.ErrUnauthenticated, 401, tok)
			})
		}
	}

	// The service alone (no configured URLs): the cloudfunctions.net URL
	// follows from a cloudfunctions.net Host and the service name.
	serviceOnly := build(map[string]string{"CONNECTORS_AUDIENCE": ""})
	for aud, ok := range map[string]bool{cfURL: true, "https://europe-west1-proj.cloudfunctions.net": false, "https://europe-west1-proj.cloudfunctions.net/files": false} {
		r := httptest.NewRequest(http.MethodPost, "https://europe-west1-proj.cloudfunctions.net/", nil)
		r.Header.Set("Authorization", "Bearer "+g.Token(t, agentEmail, aud))
		if _, err := serviceOnly.Authenticate(r, auth.RoleAgent); (err == nil) != ok {
			t.Errorf("service only, aud %s: err = %v, want ok=%v", aud, err, ok)
		}
	}

	if _, err := auth.New(auth.Config{Service: "Bad_Name"}, nil); err == nil {
		t.Error("a malformed service name was accepted")
	}
	if _, err := auth.New(auth.Config{ClientIDs: []string{"https://x"}}, nil); err == nil {
		t.Error("a URL was accepted as a client ID")
	}
}
