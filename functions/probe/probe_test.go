package probe_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/internal/functest"
	"connectors.dev/connectors/functions/probe"
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

const clientSecret = "probe-client-secret-7c2d"

// result is connectors-test's answer, success or error.
type result struct {
	OK        bool   `json:"ok"`
	ExpiresIn int64  `json:"expiresIn"`
	Scope     string `json:"scope"`
	Error     *struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"error"`
}

func (r result) code() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

type env struct {
	t      *testing.T
	url    string
	logs   *logtest.Buffer
	as     *oauthtest.Fosite
	client *functest.Client
}

// newEnv serves connectors-test beside connectors-create (to make the
// connectors it tests) over the embedded backends, against a real OAuth
// server that knows client "cid"; authn nil is local mode.
func newEnv(t *testing.T, authn *auth.Authenticator) *env {
	t.Helper()
	if authn == nil {
		var err error
		if authn, err = auth.New(auth.Config{Local: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	b := testenv.New(t, testenv.Embedded)
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	svc := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: 2 * time.Second, TokenTimeout: 2 * time.Second})
	client := functest.Serve(t, nil,
		(&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers(),
		(&probe.Server{Tester: svc, Auth: authn, Log: log}).Handlers())
	as := oauthtest.NewFosite(t)
	as.AddClient("cid", clientSecret, false, "read")
	e := &env{t: t, url: client.URL, logs: logs, as: as, client: client}
	t.Cleanup(e.checkNoLeaks)
	return e
}

func (e *env) post(fn, body, token string) (int, []byte) {
	e.t.Helper()
	resp, out := e.client.Post(fn, body, token)
	return resp.StatusCode, out
}

// test calls connectors-test with body.
func (e *env) test(body, token string) (int, result) {
	e.t.Helper()
	code, out := e.post(probe.FnTest, body, token)
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("connectors-test: %d, non-JSON %q: %v", code, out, err)
	}
	return code, r
}

// create makes a client_credentials connector at the OAuth server with the
// given client secret.
func (e *env) create(name, secret string) {
	e.t.Helper()
	in := map[string]any{"name": name, "url": e.as.TokenURL(), "grantType": "client_credentials", "clientId": "cid", "clientSecret": secret, "scope": "read", "agents": []string{"agent-1"}}
	raw, err := json.Marshal(in)
	if err != nil {
		e.t.Fatal(err)
	}
	if code, out := e.post(connectors.FnCreate, string(raw), ""); code != http.StatusCreated {
		e.t.Fatalf("create %s: got %d %s, want 201", name, code, out)
	}
}

// checkNoLeaks: neither the client secret nor any access token fosite
// issued appears in a response or a log line.
func (e *env) checkNoLeaks() {
	bodies, logs := e.client.Bodies(), e.logs.String()
	for _, s := range []string{clientSecret, "ory_at_"} {
		if strings.Contains(bodies, s) {
			e.t.Errorf("a response holds %q", s)
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a log line holds %q", s)
		}
	}
}

// TestConnectorsTest: a test mints at the provider every time, says how
// long the credential would live and never returns it; a refusing provider
// is upstream_error and an absent connector not_found.
func TestConnectorsTest(t *testing.T) {
	e := newEnv(t, nil)
	e.create("Svc", clientSecret)
	e.create("Refused", "not-the-secret")

	code, r := e.test(`{"name":"Svc"}`, "")
	if code != http.StatusOK || !r.OK || r.Scope != "read" {
		t.Fatalf("test Svc: got %d %+v, want 200 ok with scope read", code, r)
	}
	if want := int64(oauthtest.AccessTokenLifespan / time.Second); r.ExpiresIn < want-10 || r.ExpiresIn > want {
		t.Fatalf("expiresIn: got %d, want about %d", r.ExpiresIn, want)
	}
	// A test always asks the provider, though a usable credential is cached.
	before := e.as.TokenCalls()
	if code, r := e.test(`{"name":"Svc"}`, ""); code != http.StatusOK || !r.OK {
		t.Fatalf("second test: got %d %+v, want 200 ok", code, r)
	}
	if got := e.as.TokenCalls() - before; got != 1 {
		t.Fatalf("provider calls for the second test: got %d, want 1", got)
	}
	if code, r := e.test(`{"name":"Refused"}`, ""); code != http.StatusBadGateway || r.code() != "upstream_error" {
		t.Fatalf("test Refused: got %d %+v, want 502 upstream_error", code, r)
	}
	if code, r := e.test(`{"name":"Nope"}`, ""); code != http.StatusNotFound || r.code() != "not_found" {
		t.Fatalf("test Nope: got %d %+v, want 404 not_found", code, r)
	}
}

// TestConnectorsTestBadInput: a request without a valid name is refused,
// naming the field, before the provider is asked.
func TestConnectorsTestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	e.create("Svc", clientSecret)
	for _, c := range []struct{ body, field string }{
		{`{}`, "name"},
		{`{"name":"bad name!"}`, "name"},
		{`{"name":"Svc","force":true}`, "force"},
	} {
		code, r := e.test(c.body, "")
		if code != http.StatusBadRequest || r.code() != "invalid_argument" || r.Error.Field != c.field {
			t.Errorf("%s: got %d %+v, want 400 invalid_argument naming %s", c.body, code, r, c.field)
		}
	}
	if n := e.as.TokenCalls(); n != 0 {
		t.Fatalf("provider calls: got %d, want 0", n)
	}
}

// TestConnectorsTestAudit: every test, passed or failed, leaves one audit
// line naming the principal, the connector and the outcome.
func TestConnectorsTestAudit(t *testing.T) {
	e := newEnv(t, nil)
	e.create("Svc", clientSecret)
	e.create("Refused", "not-the-secret")
	e.test(`{"name":"Svc"}`, "")
	e.test(`{"name":"Refused"}`, "")

	type line struct {
		Audit     bool   `json:"audit"`
		Severity  string `json:"severity"`
		Principal string `json:"principal"`
		Action    string `json:"action"`
		Connector string `json:"connector"`
		Function  string `json:"function"`
		OK        *bool  `json:"ok"`
	}
	var got []string
	for l := range strings.Lines(e.logs.String()) {
		var entry line
		if err := json.Unmarshal([]byte(l), &entry); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if !entry.Audit || entry.Action != "test" {
			continue
		}
		if entry.Severity != "INFO" || entry.Principal != auth.LocalDev || entry.Function != "/"+probe.FnTest || entry.OK == nil {
			t.Fatalf("audit line %+v: want INFO by %s from /%s with ok", entry, auth.LocalDev, probe.FnTest)
		}
		got = append(got, entry.Connector+":"+map[bool]string{true: "ok", false: "failed"}[*entry.OK])
	}
	if want := "Svc:ok,Refused:failed"; strings.Join(got, ",") != want {
		t.Fatalf("test audit lines: got %q, want %q", strings.Join(got, ","), want)
	}
}

// TestConnectorsTestNeedsAdmin: only an admin may test; an agent or an
// anonymous caller is refused before the provider is asked.
func TestConnectorsTestNeedsAdmin(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const admin, agent = "admin@example.com", "runtime@proj.iam.gserviceaccount.com"
	authn, err := auth.New(auth.Config{Admins: []string{admin}, Agents: []string{agent}}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, authn)
	// Cloud Run terminates TLS; the derived audience is https://Host/path.
	audience := func(fn string) string { return strings.Replace(e.url, "http://", "https://", 1) + "/" + fn }
	raw, err := json.Marshal(map[string]any{"name": "Svc", "url": e.as.TokenURL(), "grantType": "client_credentials", "clientId": "cid", "clientSecret": clientSecret, "scope": "read"})
	if err != nil {
		t.Fatal(err)
	}
	if code, out := e.post(connectors.FnCreate, string(raw), iss.Token(t, admin, audience(connectors.FnCreate))); code != http.StatusCreated {
		t.Fatalf("create: got %d %s, want 201", code, out)
	}
	for _, c := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, "unauthenticated"},
		{"agent", iss.Token(t, agent, audience(probe.FnTest)), http.StatusForbidden, "permission_denied"},
	} {
		if code, r := e.test(`{"name":"Svc"}`, c.token); code != c.status || r.code() != c.code {
			t.Errorf("%s: got %d %+v, want %d %s", c.name, code, r, c.status, c.code)
		}
	}
	if n := e.as.TokenCalls(); n != 0 {
		t.Fatalf("provider calls after refused tests: got %d, want 0", n)
	}
	if code, r := e.test(`{"name":"Svc"}`, iss.Token(t, admin, audience(probe.FnTest))); code != http.StatusOK || !r.OK {
		t.Fatalf("admin: got %d %+v, want 200 ok", code, r)
	}
}
