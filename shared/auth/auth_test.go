package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	return edited(authtest.Claims(email, testAudience), edits)
}

// edited applies edits to c (a nil value deletes the claim) and returns it.
func edited(c, edits map[string]any) map[string]any {
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

// checkErr asserts err is an *auth.Error of kind want (which shared/httpx
// maps to the status), with a reason, that does not leak token.
func checkErr(t *testing.T, err, want error, token string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != want || ae.Reason == "" {
		t.Errorf("err %v is not an *auth.Error of kind %v with a reason", err, want)
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

func reflectZero(p auth.Principal) bool { return p.Email == "" && p.Roles == nil && !p.Local }

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
			for _, values := range tt.headers {
				for _, v := range values {
					// The token as sent, without its scheme: no error may quote it.
					tok := strings.TrimSpace(v)
					if _, after, ok := strings.Cut(tok, " "); ok {
						tok = after
					}
					checkErr(t, err, tt.want, tok)
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
		checkErr(t, err, auth.ErrUnauthenticated, tok)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.token)
			r.RemoteAddr = tt.remote
			p, err := a.Authenticate(r, auth.RoleAdmin)
			if tt.want != nil {
				checkErr(t, err, tt.want, tt.token)
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
	checkErr(t, err, auth.ErrUnavailable, tok)

	// Recovery: the failure was not cached.
	g.FailWith.Store(0)
	if _, err := a.Authenticate(request(tok), auth.RoleAdmin); err != nil {
		t.Fatalf("after recovery: %v", err)
	}

	// An unreachable key server is unavailability too, not a bad token.
	dead := newAuth(t, baseConfig(), authtest.KeysClient(t, "http://127.0.0.1:1"))
	_, err = dead.Authenticate(request(tok), auth.RoleAdmin)
	checkErr(t, err, auth.ErrUnavailable, tok)
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
