package token_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/internal/functest"
	"connectors.dev/connectors/functions/probe"
	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	clientSecret = "tok-client-secret-5b1e"
	accessToken  = "tok-access-token-a9f3"
)

var secrets = []string{clientSecret, accessToken}

// newProvider is a client_credentials token endpoint on loopback that
// knows clientSecret and issues accessToken with the scope "read".
func newProvider(t *testing.T) *oauthtest.Provider {
	p := oauthtest.NewProvider(t, "")
	p.AccessToken, p.Scope, p.ClientSecret = accessToken, "read", clientSecret
	return p
}

type env struct {
	t      *testing.T
	url    string
	logs   *logtest.Buffer
	cat    *catalog.Catalog
	client *functest.Client
}

// newEnv serves token and the admin functions (connectors-test included)
// over b, authenticating with authn (nil: local mode).
func newEnv(t *testing.T, b testenv.Backends, authn *auth.Authenticator, timeout time.Duration) *env {
	t.Helper()
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	if authn == nil {
		var err error
		if authn, err = auth.New(auth.Config{Local: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	svc := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: timeout, TokenTimeout: timeout})
	client := functest.Serve(t, nil,
		(&token.Server{Mint: svc, Auth: authn, Log: log}).Handlers(),
		(&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers(),
		(&probe.Server{Tester: svc, Auth: authn, Log: log}).Handlers())
	e := &env{t: t, url: client.URL, logs: logs, cat: cat, client: client}
	t.Cleanup(e.checkNoLeaks)
	return e
}

func (e *env) call(fn string, body any, token string) (int, map[string]any) {
	e.t.Helper()
	resp, out := e.client.Post(fn, body, token)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		e.t.Fatalf("%s: %d non-JSON %q", fn, resp.StatusCode, out)
	}
	return resp.StatusCode, m
}

// checkNoLeaks: the client secret never appears anywhere; the access token
// only in token responses, never in logs.
func (e *env) checkNoLeaks() {
	bodies := e.client.Bodies()
	logs := e.logs.String()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s)} {
			if strings.Contains(logs, form) {
				e.t.Errorf("a secret value appears in the logs (%q)", form)
			}
		}
	}
	if strings.Contains(bodies, clientSecret) || strings.Contains(bodies, base64.StdEncoding.EncodeToString([]byte(clientSecret))) {
		e.t.Error("the client secret appears in a response body")
	}
}

func (e *env) create(in map[string]any) {
	e.t.Helper()
	if code, out := e.call(connectors.FnCreate, in, ""); code != 201 {
		e.t.Fatalf("create: %d %v", code, out)
	}
}

func clientCreds(name, tokenURL string, agents ...string) map[string]any {
	return map[string]any{"name": name, "url": tokenURL, "grantType": "client_credentials", "clientId": "cid", "clientSecret": clientSecret, "agents": agents}
}

func errBody(out map[string]any) map[string]any {
	e, _ := out["error"].(map[string]any)
	return e
}

func TestToken(t *testing.T) {
	for _, kind := range testenv.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := testenv.New(t, kind)
			p := newProvider(t)
			e := newEnv(t, b, nil, 2*time.Second)
			e.create(clientCreds("Svc", p.URL, "agent-1"))

			code, out := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-1"}, "")
			if code != 200 || out["access_token"] != accessToken || out["token_type"] != "Bearer" || out["scope"] != "read" {
				t.Fatalf("token: %d %v", code, out)
			}
			if in, _ := out["expires_in"].(float64); in < 3590 || in > 3600 {
				t.Fatalf("expires_in %v", out["expires_in"])
			}
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(out["expires_at"])); err != nil || time.Until(at) < 59*time.Minute {
				t.Fatalf("expires_at %v (%v)", out["expires_at"], err)
			}
			// Within its lifetime the token comes from the cache.
			if code, out := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-1"}, ""); code != 200 || out["access_token"] != accessToken {
				t.Fatalf("second token: %d %v", code, out)
			}
			if n := p.Calls.Load(); n != 1 {
				t.Fatalf("provider called %d times, want 1", n)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t)
	refusing := newProvider(t)
	refusing.Status.Store(401)
	hanging := newProvider(t)
	hanging.Hang.Store(true)
	e := newEnv(t, b, nil, 300*time.Millisecond)
	e.create(clientCreds("Svc", p.URL, "agent-1"))
	e.create(clientCreds("Refused", refusing.URL, "agent-1"))
	e.create(clientCreds("Slow", hanging.URL, "agent-1"))
	inactive := clientCreds("Off", p.URL, "agent-1")
	inactive["active"] = false
	e.create(inactive)

	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{"agent not allowed", map[string]any{"connector": "Svc", "agent": "agent-2"}, 403, "permission_denied", "agent"},
		{"unknown connector", map[string]any{"connector": "Nope", "agent": "agent-1"}, 404, "not_found", ""},
		{"inactive", map[string]any{"connector": "Off", "agent": "agent-1"}, 409, "failed_precondition", ""},
		{"provider refuses", map[string]any{"connector": "Refused", "agent": "agent-1"}, 502, "upstream_error", ""},
		{"provider hangs", map[string]any{"connector": "Slow", "agent": "agent-1"}, 504, "upstream_timeout", ""},
		{"missing agent", map[string]any{"connector": "Svc"}, 400, "invalid_argument", "agent"},
		{"missing connector", map[string]any{"agent": "agent-1"}, 400, "invalid_argument", "connector"},
		{"bad connector name", map[string]any{"connector": "a b", "agent": "agent-1"}, 400, "invalid_argument", "connector"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := e.call(token.FnToken, c.body, "")
			eb := errBody(out)
			if code != c.status || eb["code"] != c.code || (c.field != "" && eb["field"] != c.field) {
				t.Fatalf("got %d %v, want %d %s %s", code, out, c.status, c.code, c.field)
			}
			if c.code == "upstream_error" {
				up, _ := eb["upstream"].(map[string]any)
				if up["status"] != float64(401) || up["error"] != "invalid_client" || up["error_description"] != "client authentication failed" {
					t.Fatalf("upstream details: %v", eb)
				}
			}
			if c.code == "failed_precondition" && !strings.Contains(fmt.Sprint(eb["message"]), "inactive") {
				t.Fatalf("inactive message does not say so: %v", eb)
			}
		})
	}
	if hanging.Calls.Load() != 1 {
		t.Fatalf("the hanging provider was called %d times", hanging.Calls.Load())
	}
}

// TestAgentBindings: with bindings, a runtime may mint only for its agents;
// an admin may not call token at all.
func TestAgentBindings(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const runtimeA, runtimeB, admin = "a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com", "admin@example.com"
	authn, err := auth.New(auth.Config{
		Audience:      "https://token.example.run.app",
		Admins:        []string{admin},
		AgentBindings: map[string][]string{"agent-a": {runtimeA}, "agent-b": {runtimeB}},
	}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t)
	e := newEnv(t, b, authn, 2*time.Second)
	adminToken := iss.Token(t, admin, "https://token.example.run.app")
	if code, out := e.call(connectors.FnCreate, clientCreds("Svc", p.URL, "agent-a", "agent-b"), adminToken); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	tokA := iss.Token(t, runtimeA, "https://token.example.run.app")
	if code, out := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-a"}, tokA); code != 200 {
		t.Fatalf("bound runtime: %d %v", code, out)
	}
	if code, out := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-b"}, tokA); code != 403 || errBody(out)["code"] != "permission_denied" {
		t.Fatalf("runtime A minting for agent B: %d %v", code, out)
	}
	// The attempt to act for another agent is audited, naming who tried.
	if want := `"principal":"` + runtimeA + `","agent":"agent-b","connector":"Svc","op":"token","outcome":"permission_denied"`; !strings.Contains(e.logs.String(), want) {
		t.Fatalf("no audit line %s in:\n%s", want, e.logs.String())
	}
	if code, _ := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-a"}, adminToken); code != 403 {
		t.Fatalf("admin on token: %d", code)
	}
	if code, _ := e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": "agent-a"}, ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}

// TestTokenAudit: every mint request whose caller is known leaves one
// audit line, served or refused, naming principal, agent, connector,
// outcome and, when served, the cache layer and expiry; never the token
// (checkNoLeaks searches the logs for it when the test ends).
func TestTokenAudit(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t)
	e := newEnv(t, b, nil, 2*time.Second)
	e.create(clientCreds("Svc", p.URL, "agent-1"))
	// The third line's attributes are the second's, rendered once.
	for _, agent := range []string{"agent-1", "agent-1", "agent-1", "agent-2"} {
		e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": agent}, "")
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var entry struct {
			Audit     bool   `json:"audit"`
			Op        string `json:"op"`
			Principal string `json:"principal"`
			Agent     string `json:"agent"`
			Connector string `json:"connector"`
			Outcome   string `json:"outcome"`
			Cache     string `json:"cache"`
			ExpiresAt string `json:"expiresAt"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if !entry.Audit || entry.Op != "token" {
			continue
		}
		if entry.Principal != auth.LocalDev || entry.Connector != "Svc" {
			t.Fatalf("audit line lacks the principal or connector: %+v", entry)
		}
		if entry.Outcome == "ok" {
			if at, err := time.Parse(time.RFC3339, entry.ExpiresAt); err != nil || time.Until(at) < 59*time.Minute {
				t.Fatalf("audit line's expiresAt %q (%v)", entry.ExpiresAt, err)
			}
		}
		got = append(got, entry.Agent+":"+entry.Outcome+":"+entry.Cache)
	}
	want := "agent-1:ok:minted,agent-1:ok:local,agent-1:ok:local,agent-2:permission_denied:"
	if strings.Join(got, ",") != want {
		t.Fatalf("audit lines %q, want %q", strings.Join(got, ","), want)
	}
}
