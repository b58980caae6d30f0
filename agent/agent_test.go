package agent_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/agent"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
	"golang.org/x/oauth2"
)

// TestTokenSource mints through the token function of the local run: the
// token is the provider's, reused until it nears its expiry, with the
// token function's errors as *agent.Error.
func TestTokenSource(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		e := newEnv(t, b, nil)
		e.connector("Mail", "/gmail/v1/", mailer)
		ctx := context.Background()
		ts, err := agent.TokenSource(ctx, e.tokenURL, "Mail", mailer, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if active, err := e.fosite.Active(tok.AccessToken); err != nil || !active {
			t.Fatalf("the token is not one fosite issued and holds active: %v %v", active, err)
		}
		if tok.Type() != "Bearer" || tok.Extra("scope") != "read" {
			t.Fatalf("token type %q, scope %v", tok.Type(), tok.Extra("scope"))
		}
		if left := time.Until(tok.Expiry); left < oauthtest.AccessTokenLifespan-time.Minute || left > oauthtest.AccessTokenLifespan {
			t.Fatalf("expiry in %v, want the provider's %v", left, oauthtest.AccessTokenLifespan)
		}
		// A loopback function needs no ID token: none was sent.
		if h := e.lastAt(&e.atToken); h.Get("Authorization") != "" {
			t.Fatalf("Authorization %q sent to the local run", h.Get("Authorization"))
		}
		// Reused: no second call.
		again, err := ts.Token()
		if err != nil || again.AccessToken != tok.AccessToken || e.tokenCalls.Load() != 1 {
			t.Fatalf("second Token: %v, same %v, token function calls %d", err, again != nil && again.AccessToken == tok.AccessToken, e.tokenCalls.Load())
		}
		// And it works at the API, through oauth2's client.
		resp, err := oauth2.NewClient(ctx, ts).Get(e.api.URL + "/gmail/v1/users/me")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || e.api.Last(t).Token != tok.AccessToken {
			t.Fatalf("the API answered %d to the token", resp.StatusCode)
		}
	})
}

// TestTokenSourceErrors: the token function's refusals come back as
// *agent.Error with its status, code and message, through
// oauth2.ReuseTokenSource unchanged.
func TestTokenSourceErrors(t *testing.T) {
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	e.connector("Mail", "/gmail/v1/", mailer)
	for _, c := range []struct {
		connector, agent string
		status           int
		code             string
	}{
		{"Nope", mailer, 404, "not_found"},
		{"Mail", "intruder", 403, "permission_denied"},
		{"Mail", "bad agent id", 400, "invalid_argument"},
	} {
		ts, err := agent.TokenSource(context.Background(), e.tokenURL, c.connector, c.agent, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token()
		var ae *agent.Error
		if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code || ae.Message == "" {
			t.Errorf("%s for %q: %v, want *agent.Error %d %s with a message", c.connector, c.agent, err, c.status, c.code)
		}
	}
}

// TestTokenSourceRefusesAWSCredentials: an aws_iam connector mints no
// bearer token; the source says so rather than hand out an empty one.
func TestTokenSourceRefusesAWSCredentials(t *testing.T) {
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	const keyID, secretKey = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	sts := httptest.NewServer(&cloudtest.STS{KeyID: keyID, SecretKey: secretKey})
	t.Cleanup(sts.Close)
	in := connector.Input{Name: ptr("S3"), URL: ptr(sts.URL), GrantType: ptr("aws_iam"), ClientID: ptr(keyID), ClientSecret: ptr(secretKey), Agents: &[]string{mailer}}
	if _, err := e.cat.Create(context.Background(), &in, "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	ts, err := agent.TokenSource(context.Background(), e.tokenURL, "S3", mailer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(); !errors.Is(err, agent.ErrNotBearer) {
		t.Fatalf("Token: %v %v, want ErrNotBearer", tok, err)
	}
}

// TestTokenSourceFrontEndRefusal: Cloud Run's front end refuses a caller
// without the invoker role with a page of its own, not the function's
// JSON; the error has its status, no code, and does not quote the page.
func TestTokenSourceFrontEndRefusal(t *testing.T) {
	// Cloud Run's front end, as it answers: a hand-written stand-in, since
	// no local server plays it.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<html><title>403 Forbidden</title><body>Your client does not have permission to get URL /</body></html>")
	}))
	t.Cleanup(front.Close)
	ts, err := agent.TokenSource(context.Background(), front.URL, "Mail", mailer, &agent.Options{IDToken: static("an-id-token")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token()
	var ae *agent.Error
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "" || !strings.Contains(ae.Message, "roles/run.invoker") || strings.Contains(err.Error(), "<html>") {
		t.Fatalf("got %v", err)
	}
}

// TestProxyClient calls the API through the local run's proxy: the request
// arrives below apiBaseUrl with its query and body and the connector's
// token, for the agent named; the answers come back as they are, the
// proxy's own marked; and the agent's code sees no token (checkNoLeaks).
func TestProxyClient(t *testing.T) {
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	e.connector("Mail", "/gmail/v1/", mailer)
	ctx := context.Background()
	client, err := agent.ProxyClient(ctx, e.proxyURL, "Mail", mailer, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "/users/me/messages?q=from%3Aalice&maxResults=5", nil)
		req.Header.Set("Authorization", "Bearer callers-own-credential")
		req.Header.Set("Cookie", "sid=callers-cookie")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out := e.read(resp)
		if _, ok := agent.ProxyError(resp); resp.StatusCode != 200 || ok {
			t.Fatalf("GET: %d %s", resp.StatusCode, out)
		}
		r := e.api.Last(t)
		if r.Method != "GET" || r.Path != "/gmail/v1/users/me/messages" || r.RawQuery != "q=from%3Aalice&maxResults=5" {
			t.Fatalf("the API got %s %s?%s", r.Method, r.Path, r.RawQuery)
		}
		if active, err := e.fosite.Active(r.Token); err != nil || !active {
			t.Fatalf("the API got no token of the connector's: %v %v", active, err)
		}
		if r.Header.Get("Cookie") != "" || strings.Contains(strings.Join(r.Header.Values("Authorization"), ","), "callers-own-credential") {
			t.Fatalf("the caller's credentials reached the API: %v", r.Header)
		}
		if h := e.lastAt(&e.atProxy); h.Get(agent.HeaderAgent) != mailer || h.Get("Authorization") != "" {
			t.Fatalf("the proxy got %v", h)
		}
		// The caller's request is as it was.
		if req.Header.Get(agent.HeaderAgent) != "" || req.Header.Get("Authorization") != "Bearer callers-own-credential" || req.URL.Host != "" {
			t.Fatalf("RoundTrip changed the request: %v %v", req.URL, req.Header)
		}
	})

	t.Run("POST a body", func(t *testing.T) {
		body := make([]byte, 1<<20)
		rand.Read(body)
		sum := sha256.Sum256(body)
		resp, err := client.Post("/upload", "application/octet-stream", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		var echo struct {
			BodyBytes  int64  `json:"bodyBytes"`
			BodySha256 string `json:"bodySha256"`
		}
		if out := e.read(resp); json.Unmarshal(out, &echo) != nil || echo.BodyBytes != 1<<20 || echo.BodySha256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("POST: %d %s", resp.StatusCode, out)
		}
	})

	t.Run("the API's answers pass unmarked", func(t *testing.T) {
		resp, err := client.Get("/x/status?code=429&retryAfter=7")
		if err != nil {
			t.Fatal(err)
		}
		e.read(resp)
		if _, ok := agent.ProxyError(resp); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || ok {
			t.Fatalf("429: %d Retry-After %q, proxy's own %v", resp.StatusCode, resp.Header.Get("Retry-After"), ok)
		}
		// A redirect is returned, not followed (it would go through the
		// connector to a path of another host's).
		n := len(e.api.Requests())
		resp, err = client.Get("/x/redirect")
		if err != nil {
			t.Fatal(err)
		}
		e.read(resp)
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://elsewhere.example.com/landing" || len(e.api.Requests()) != n+1 {
			t.Fatalf("redirect: %d to %q, API requests %d", resp.StatusCode, resp.Header.Get("Location"), len(e.api.Requests())-n)
		}
	})

	t.Run("the proxy's own errors", func(t *testing.T) {
		n := len(e.api.Requests())
		for _, c := range []struct {
			connector, agent, path string
			status                 int
			code                   string
		}{
			{"Nope", mailer, "/users/me", 404, "not_found"},
			{"Mail", "intruder", "/users/me", 403, "permission_denied"},
			{"Mail", mailer, "/../../admin", 400, "invalid_argument"},
			{"Mail", mailer, "/%2e%2e/admin", 400, "invalid_argument"},
		} {
			client, err := agent.ProxyClient(ctx, e.proxyURL, c.connector, c.agent, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get(c.path)
			if err != nil {
				t.Fatalf("%s %s: %v; a RoundTripper returns answers, whatever their status", c.connector, c.path, err)
			}
			out := e.read(resp)
			var body struct {
				Error struct{ Code, Message string }
			}
			code, ok := agent.ProxyError(resp)
			if resp.StatusCode != c.status || !ok || code != c.code || json.Unmarshal(out, &body) != nil || body.Error.Code != c.code {
				t.Errorf("%s for %s %s: %d %q %v %s, want %d %s", c.connector, c.agent, c.path, resp.StatusCode, code, ok, out, c.status, c.code)
			}
		}
		if got := len(e.api.Requests()); got != n {
			t.Fatalf("%d refused calls reached the API", got-n)
		}
	})
}

// TestTransportAPIBase: with APIBase, a request for the API's own URL
// goes through the proxy with the rest of its path; a request for any
// other URL is refused before anything is sent, its body closed.
func TestTransportAPIBase(t *testing.T) {
	e := newEnv(t, testenv.New(t, testenv.Embedded), nil)
	e.connector("Mail", "/gmail/v1/", mailer)
	tr, err := agent.NewTransport(context.Background(), e.proxyURL, "Mail", mailer, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.APIBase = e.api.URL + "/gmail/v1/"
	client := &http.Client{Transport: tr}
	resp, err := client.Get(e.api.URL + "/gmail/v1/users/me/labels?fields=id")
	if err != nil {
		t.Fatal(err)
	}
	e.read(resp)
	r := e.api.Last(t)
	if resp.StatusCode != 200 || r.Path != "/gmail/v1/users/me/labels" || r.RawQuery != "fields=id" {
		t.Fatalf("%d; the API got %s?%s", resp.StatusCode, r.Path, r.RawQuery)
	}
	if h := e.lastAt(&e.atProxy); h.Get(agent.HeaderAgent) != mailer {
		t.Fatal("the request did not go through the proxy")
	}
	n := len(e.api.Requests())
	for _, u := range []string{
		e.api.URL + "/gmail/v2/users/me",                                // beside the base path
		e.api.URL + "/gmail/v1x/users",                                  // a longer segment
		"https://evil.example.com/gmail/v1/users/me",                    // another host
		strings.Replace(e.api.URL, "http:", "https:", 1) + "/gmail/v1/", // another scheme
		"/gmail/v1/users/me",                                            // relative
	} {
		body := &closeRecorder{Reader: strings.NewReader("{}")}
		req, _ := http.NewRequest("POST", u, body)
		if resp, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "not below the connector's API") {
			t.Errorf("%s: %v %v, want refused", u, resp, err)
		}
		if !body.closed.Load() {
			t.Errorf("%s: the body was not closed", u)
		}
	}
	if got := len(e.api.Requests()); got != n {
		t.Fatalf("%d refused requests reached the API", got-n)
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestWithIDTokens: deployed, each function checks the caller's Google ID
// token for its own URL and the principal's agent bindings; the clients
// send the ID token given them, and it goes no further than the proxy.
func TestWithIDTokens(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const runtimeA, runtimeB = "mailer-rt@p.iam.gserviceaccount.com", "crm-rt@p.iam.gserviceaccount.com"
	e := newEnv(t, testenv.New(t, testenv.Embedded), func(audience string) *auth.Authenticator {
		a, err := auth.New(auth.Config{
			Audience:      audience,
			AgentBindings: map[string][]string{mailer: {"serviceAccount:" + runtimeA}, "crm-bot": {"serviceAccount:" + runtimeB}},
		}, iss.Client)
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	e.connector("Mail", "/gmail/v1/", mailer, "crm-bot")
	ctx := context.Background()
	idA := iss.Token(t, runtimeA, e.proxyURL)
	idB := iss.Token(t, runtimeB, e.proxyURL)
	idAForToken := iss.Token(t, runtimeA, e.tokenURL)
	e.extraSecret = append(e.extraSecret, idA, idB, idAForToken)

	get := func(id oauth2.TokenSource, agentID string) *http.Response {
		t.Helper()
		client, err := agent.ProxyClient(ctx, e.proxyURL, "Mail", agentID, &agent.Options{IDToken: id, Transport: e.transport})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Get("/users/me")
		if err != nil {
			t.Fatal(err)
		}
		e.read(resp)
		return resp
	}

	resp := get(static(idA), mailer)
	if _, ok := agent.ProxyError(resp); resp.StatusCode != 200 || ok {
		t.Fatalf("bound runtime: %d", resp.StatusCode)
	}
	if h := e.lastAt(&e.atProxy); h.Get("Authorization") != "Bearer "+idA || h.Get(agent.HeaderAgent) != mailer {
		t.Fatalf("the proxy got Authorization %.20q…, agent %q", h.Get("Authorization"), h.Get(agent.HeaderAgent))
	}
	r := e.api.Last(t)
	if active, _ := e.fosite.Active(r.Token); !active {
		t.Fatal("the API got no token of the connector's")
	}
	for k, vs := range r.Header {
		if strings.Contains(strings.Join(vs, ","), idA) {
			t.Fatalf("the ID token reached the API in %s", k)
		}
	}

	for _, c := range []struct {
		name   string
		id     oauth2.TokenSource
		agent  string
		status int
		code   string
	}{
		{"a runtime bound to another agent", static(idB), mailer, 403, "permission_denied"},
		{"the token function's audience", static(idAForToken), mailer, 401, "unauthenticated"},
		{"no ID token", static(""), mailer, 401, "unauthenticated"},
	} {
		resp := get(c.id, c.agent)
		if code, ok := agent.ProxyError(resp); resp.StatusCode != c.status || !ok || code != c.code {
			t.Errorf("%s: %d %q, want %d %s", c.name, resp.StatusCode, code, c.status, c.code)
		}
	}

	// The token source, with the ID token for the token function's URL.
	ts, err := agent.TokenSource(ctx, e.tokenURL, "Mail", mailer, &agent.Options{IDToken: static(idAForToken), Transport: e.transport})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	if h := e.lastAt(&e.atToken); h.Get("Authorization") != "Bearer "+idAForToken {
		t.Fatal("the token function did not get the ID token")
	}
	for _, c := range []struct {
		name   string
		id     string
		status int
		code   string
	}{
		{"the proxy's audience", idA, 401, "unauthenticated"},
		{"a runtime bound to another agent", iss.Token(t, runtimeB, e.tokenURL), 403, "permission_denied"},
	} {
		ts, err := agent.TokenSource(ctx, e.tokenURL, "Mail", mailer, &agent.Options{IDToken: static(c.id), Transport: e.transport})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token()
		var ae *agent.Error
		if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code {
			t.Errorf("%s: %v, want %d %s", c.name, err, c.status, c.code)
		}
	}
}

// TestClientsCheckTheirArguments: every argument rule, each refusal naming
// the argument and the problem.
func TestClientsCheckTheirArguments(t *testing.T) {
	ctx := context.Background()
	opts := &agent.Options{IDToken: static("x")}
	for _, c := range []struct {
		url, connector, agent, want string
	}{
		{"ftp://127.0.0.1/token", "Mail", mailer, "must be https"},
		{"http://functions.example.com/token", "Mail", mailer, "must be https"},
		{"https:///token", "Mail", mailer, "has no host"},
		{"https://user:pw@functions.example.com/token", "Mail", mailer, "no userinfo, query or fragment"},
		{"https://functions.example.com/token?x=1", "Mail", mailer, "no userinfo, query or fragment"},
		{"https://functions.example.com/token#f", "Mail", mailer, "no userinfo, query or fragment"},
		{"://bad", "Mail", mailer, "is not a URL"},
		{"https://functions.example.com", "", mailer, "both required"},
		{"https://functions.example.com", "Mail", "", "both required"},
	} {
		if _, err := agent.TokenSource(ctx, c.url, c.connector, c.agent, opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TokenSource(%q, %q, %q): %v, want %q", c.url, c.connector, c.agent, err, c.want)
		}
		if _, err := agent.ProxyClient(ctx, c.url, c.connector, c.agent, opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ProxyClient(%q, %q, %q): %v, want %q", c.url, c.connector, c.agent, err, c.want)
		}
	}
	if _, err := agent.ProxyClient(ctx, "https://functions.example.com", "Mail/x", mailer, opts); err == nil || !strings.Contains(err.Error(), "no slash") {
		t.Errorf("a connector with a slash: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
