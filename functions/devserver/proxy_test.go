package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/proxy/apitest"
)

const (
	proxyClientSecret = "proxy-client-secret-7c2d"
	proxyAgent        = "mailer"
)

// proxyEnv is the local run with a real OAuth server (fosite) and an API
// that checks tokens with it.
type proxyEnv struct {
	t      *testing.T
	url    string
	fosite *oauthtest.Fosite
	api    *apitest.API
	logs   *logtest.Buffer
	mu     sync.Mutex
	bodies bytes.Buffer
	tokens map[string]bool
}

func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	f := oauthtest.NewFosite(t)
	f.AddClient("proxy-client", proxyClientSecret, false, "read")
	api := apitest.New(t)
	api.Active = f.Active
	logs := &logtest.Buffer{}
	a, err := newApp(t.TempDir(), logging.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	e := &proxyEnv{t: t, url: srv.URL, fosite: f, api: api, logs: logs, tokens: map[string]bool{}}
	t.Cleanup(e.checkNoLeaks)
	return e
}

// connector creates a client_credentials connector at fosite whose API is
// the test API below base (a path such as "/api/v1/"; "" for none).
func (e *proxyEnv) connector(name, base string, agents ...string) {
	e.t.Helper()
	c := map[string]any{"name": name, "url": e.fosite.TokenURL(), "grantType": "client_credentials",
		"clientId": "proxy-client", "clientSecret": proxyClientSecret, "scope": "read", "agents": agents}
	if base != "" {
		c["apiBaseUrl"] = e.api.URL + base
	}
	raw, _ := json.Marshal(c)
	if code, out := post(e.t, e.url+"/connectors-create", string(raw)); code != 201 {
		e.t.Fatalf("create %s: %d %v", name, code, out)
	}
}

// do sends a request through the proxy for agent ("" for no
// Connectors-Agent header) and returns the answer, its body read (and kept
// for the leak check).
func (e *proxyEnv) do(method, path, agent string, body io.Reader, header http.Header) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if agent != "" {
		req.Header.Set("Connectors-Agent", agent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.keep(resp, out)
	return resp, out
}

func (e *proxyEnv) keep(resp *http.Response, out []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(out) < 1<<20 {
		e.bodies.Write(out)
	}
	for k, vs := range resp.Header {
		fmt.Fprintf(&e.bodies, "%s: %s\n", k, strings.Join(vs, ","))
	}
}

// checkNoLeaks: no token the API received, and not the client secret,
// appears in any answer the agent got or in any log line.
func (e *proxyEnv) checkNoLeaks() {
	secrets := []string{proxyClientSecret}
	for _, r := range e.api.Requests() {
		if r.Token != "" {
			secrets = append(secrets, r.Token)
		}
	}
	e.mu.Lock()
	bodies := e.bodies.String()
	e.mu.Unlock()
	logs := e.logs.String()
	for _, s := range secrets {
		if strings.Contains(bodies, s) {
			e.t.Errorf("a token or secret reached the agent: %.12s…", s)
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a token or secret is in the logs: %.12s…", s)
		}
	}
}

// proxyError checks an answer of the proxy's own: its status, the
// Connectors-Error header and the JSON error body agree.
func proxyError(t *testing.T, resp *http.Response, out []byte, status int, code string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out, &body); err != nil {
		t.Fatalf("%d %q: not a JSON error", resp.StatusCode, out)
	}
	if resp.StatusCode != status || resp.Header.Get("Connectors-Error") != code || body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("got %d Connectors-Error=%q %s, want %d %s", resp.StatusCode, resp.Header.Get("Connectors-Error"), out, status, code)
	}
}

func TestProxyGet(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	resp, out := e.do("GET", "/proxy/Mail/users/me/messages?q=from%3Aalice&maxResults=5", proxyAgent, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Connectors-Error") != "" {
		t.Fatalf("GET: %d %s", resp.StatusCode, out)
	}
	r := e.api.Last(t)
	if r.Method != "GET" || r.Path != "/gmail/v1/users/me/messages" || r.RawQuery != "q=from%3Aalice&maxResults=5" {
		t.Fatalf("the API got %s %s?%s", r.Method, r.Path, r.RawQuery)
	}
	if r.Token == "" || r.Header.Get("Authorization") != "Bearer "+r.Token {
		t.Fatalf("the API got Authorization %q", r.Header.Get("Authorization"))
	}
	if active, err := e.fosite.Active(r.Token); err != nil || !active {
		t.Fatalf("the token sent is not one fosite issued: %v %v", active, err)
	}
	var echo map[string]any
	if err := json.Unmarshal(out, &echo); err != nil || echo["path"] != "/gmail/v1/users/me/messages" {
		t.Fatalf("the API's answer did not come back: %s", out)
	}
	// The base itself, and a path ending in a slash.
	for path, want := range map[string]string{"/proxy/Mail": "/gmail/v1/", "/proxy/Mail/": "/gmail/v1/", "/proxy/Mail/labels/": "/gmail/v1/labels/", "/proxy/Mail//labels": "/gmail/v1/labels"} {
		if resp, out := e.do("GET", path, proxyAgent, nil, nil); resp.StatusCode != 200 || e.api.Last(t).Path != want {
			t.Fatalf("%s: %d %s reached %s, want %s", path, resp.StatusCode, out, e.api.Last(t).Path, want)
		}
	}
	// One audit line per call, without the token or the query's values.
	logs := e.logs.String()
	if n := strings.Count(logs, `"op":"proxy"`); n != 5 {
		t.Fatalf("%d proxy audit lines, want 5:\n%s", n, logs)
	}
	for _, want := range []string{`"principal":"local-dev"`, `"agent":"mailer"`, `"connector":"Mail"`, `"method":"GET"`, `"path":"/gmail/v1/users/me/messages"`, `"status":200`, `"bytesOut":`, `"durationMs":`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("audit lines lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "alice") {
		t.Fatal("a query value is in the logs")
	}
}

func TestProxyBodiesArriveWhole(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Files", "/upload/", proxyAgent)
	for _, tc := range []struct {
		method string
		size   int
	}{{"POST", 1_000_000}, {"PUT", 20 << 20}} {
		body := make([]byte, tc.size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		sum := sha256.Sum256(body)
		resp, out := e.do(tc.method, "/proxy/Files/object", proxyAgent, bytes.NewReader(body), http.Header{"Content-Type": {"application/octet-stream"}})
		if resp.StatusCode != 200 {
			t.Fatalf("%s %d bytes: %d %s", tc.method, tc.size, resp.StatusCode, out)
		}
		r := e.api.Last(t)
		if r.Method != tc.method || r.BodyLen != int64(tc.size) || r.BodySHA != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: the API got %s %d bytes", tc.method, r.Method, r.BodyLen)
		}
	}
	// A chunked upload (no Content-Length) arrives too.
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			pw.Write(bytes.Repeat([]byte("x"), 100_000))
		}
		pw.Close()
	}()
	if resp, out := e.do("POST", "/proxy/Files/chunked-upload", proxyAgent, pr, nil); resp.StatusCode != 200 || e.api.Last(t).BodyLen != 300_000 {
		t.Fatalf("chunked upload: %d %s", resp.StatusCode, out)
	}
}

func TestProxyLargeDownload(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Store", "/dl/", proxyAgent)
	for _, seg := range []string{"bytes", "chunked"} {
		const n = 50 << 20
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/proxy/Store/%s?n=%d", e.url, seg, n), nil)
		req.Header.Set("Connectors-Agent", proxyAgent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		buf := make([]byte, 64<<10)
		for {
			m, err := resp.Body.Read(buf)
			for i := range m {
				if buf[i] != apitest.Pattern(got+int64(i)) {
					t.Fatalf("%s: byte %d differs", seg, got+int64(i))
				}
			}
			got += int64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", seg, got, err)
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || got != n {
			t.Fatalf("%s: %d, %d bytes, want %d", seg, resp.StatusCode, got, n)
		}
	}
}

func TestProxyPathStaysUnderBase(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	before := len(e.api.Requests())
	for _, path := range []string{
		"/proxy/Mail/../admin",
		"/proxy/Mail/users/../../admin",
		"/proxy/Mail/%2e%2e/admin",
		"/proxy/Mail/%2E%2E/admin",
		"/proxy/Mail/.%2e/admin",
		"/proxy/Mail/users/%2e%2e%2f%2e%2e%2fadmin",
		"/proxy/Mail/..%2fadmin",
		"/proxy/Mail/%252e%252e/admin",
		"/proxy/Mail/users%2f..%2f..%2fadmin",
		"/proxy/Mail/./users",
		"/proxy/Mail/%2e/users",
		"/proxy/Mail/users\\..\\admin",
		"/proxy/Mail/users%5c..%5cadmin",
		"/proxy/Mail/https://evil.example.com/x",
		"/proxy/Mail/http:%2f%2fevil.example.com/x",
		"/proxy/Mail/https%3A%2F%2Fevil.example.com%2Fx",
	} {
		req, _ := http.NewRequest("GET", e.url, nil)
		req.URL.Opaque = path // sent exactly as written, not cleaned by the client
		req.Header.Set("Connectors-Agent", proxyAgent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Run(path, func(t *testing.T) { proxyError(t, resp, out, 400, "invalid_argument") })
	}
	if n := len(e.api.Requests()); n != before {
		t.Fatalf("%d requests reached the API", n-before)
	}
	// An encoded slash inside a segment (a GCS object name) stays in it.
	if resp, out := e.do("GET", "/proxy/Mail/o/folder%2Ffile.txt", proxyAgent, nil, nil); resp.StatusCode != 200 || e.api.Last(t).Path != "/gmail/v1/o/folder%2Ffile.txt" {
		t.Fatalf("encoded slash: %d %s reached %s", resp.StatusCode, out, e.api.Last(t).Path)
	}
}

func TestProxyRefusals(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	e.connector("NoBase", "", proxyAgent)
	e.connector("Off", "/off/", proxyAgent)
	if code, out := post(t, e.url+"/connectors-update", `{"name":"Off","changes":{"active":false}}`); code != 200 {
		t.Fatalf("deactivate: %d %v", code, out)
	}
	for _, tc := range []struct {
		name, method, path, agent string
		status                    int
		code                      string
	}{
		{"unbound agent", "GET", "/proxy/Mail/x", "intruder", 403, "permission_denied"},
		{"unknown connector", "GET", "/proxy/Nope/x", proxyAgent, 404, "not_found"},
		{"no agent header", "GET", "/proxy/Mail/x", "", 400, "invalid_argument"},
		{"no apiBaseUrl", "GET", "/proxy/NoBase/x", proxyAgent, 409, "failed_precondition"},
		{"inactive", "GET", "/proxy/Off/x", proxyAgent, 409, "failed_precondition"},
		{"no connector", "GET", "/proxy/", proxyAgent, 400, "invalid_argument"},
		{"bad connector name", "GET", "/proxy/no-such!/x", proxyAgent, 400, "invalid_argument"},
		{"TRACE echoes the credential", "TRACE", "/proxy/Mail/x", proxyAgent, 405, "invalid_argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := e.do(tc.method, tc.path, tc.agent, nil, nil)
			proxyError(t, resp, out, tc.status, tc.code)
		})
	}
	if n := len(e.api.Requests()); n != 0 {
		t.Fatalf("%d refused requests reached the API", n)
	}
	if n := e.fosite.TokenCalls(); n != 0 {
		t.Fatalf("%d token requests for refused calls", n)
	}
	// Each refusal with a known agent and connector is audited.
	if !strings.Contains(e.logs.String(), `"agent":"intruder"`) {
		t.Fatalf("the unbound agent's refusal is not audited:\n%s", e.logs.String())
	}
}

func TestProxyCallerCredentialsStayHome(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	// The caller's own ID token (Authorization) is checked in
	// functions/proxy's tests, where callers have real ones.
	h := http.Header{
		"Proxy-Authorization": {"Basic Y2FsbGVyOnB3"},
		"Cookie":              {"session=caller-cookie"},
		"Forwarded":           {"for=10.0.0.1"},
		"X-Forwarded-For":     {"10.0.0.1"},
		"X-Forwarded-Host":    {"internal.example.com"},
		"Connectors-Debug":    {"1"},
		"Connection":          {"X-Hop"},
		"X-Hop":               {"hop-value"},
		"Accept":              {"application/json"},
		"X-Request-Id":        {"req-42"},
	}
	resp, out := e.do("GET", "/proxy/Mail/profile", proxyAgent, nil, h)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	r := e.api.Last(t)
	for k, v := range r.Header {
		joined := strings.Join(v, ",")
		for _, own := range []string{"Y2FsbGVyOnB3", "caller-cookie", "10.0.0.1", "internal.example.com", "hop-value", proxyAgent} {
			if strings.Contains(joined, own) {
				t.Errorf("the API got the caller's %s: %s", k, joined)
			}
		}
		if strings.HasPrefix(k, "Connectors-") {
			t.Errorf("the API got %s", k)
		}
	}
	if r.Header.Get("Accept") != "application/json" || r.Header.Get("X-Request-Id") != "req-42" {
		t.Fatalf("ordinary headers did not pass: %v", r.Header)
	}
	if r.Header.Get("Authorization") != "Bearer "+r.Token || r.Token == "" {
		t.Fatal("the connector's token is not the API's Authorization")
	}
	// The API's cookies do not come back; its redirects are returned.
	resp, _ = e.do("GET", "/proxy/Mail/cookie", proxyAgent, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("cookie: %d Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.url+"/proxy/Mail/redirect", nil)
	req.Header.Set("Connectors-Agent", proxyAgent)
	rr, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rr.Body.Close()
	if rr.StatusCode != 302 || rr.Header.Get("Location") != "https://elsewhere.example.com/landing" || rr.Header.Get("Connectors-Error") != "" {
		t.Fatalf("redirect: %d %q", rr.StatusCode, rr.Header.Get("Location"))
	}
}

func TestProxyRevokedTokenIsRenewedOnce(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	if resp, out := e.do("GET", "/proxy/Mail/a", proxyAgent, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("first: %d %s", resp.StatusCode, out)
	}
	first := e.api.Last(t).Token
	e.fosite.Revoke(t, "proxy-client", proxyClientSecret, false, first)
	calls := e.fosite.TokenCalls()
	body := `{"to":"bob@example.com"}`
	resp, out := e.do("POST", "/proxy/Mail/send", proxyAgent, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != 200 {
		t.Fatalf("after revocation: %d %s", resp.StatusCode, out)
	}
	rs := e.api.Requests()
	last, refused := rs[len(rs)-1], rs[len(rs)-2]
	if refused.Token != first || last.Token == first || last.BodyLen != int64(len(body)) {
		t.Fatalf("replay: refused %.8s… then %.8s… with %d bytes", refused.Token, last.Token, last.BodyLen)
	}
	if n := e.fosite.TokenCalls() - calls; n != 1 {
		t.Fatalf("%d token requests to renew, want 1", n)
	}
	if !strings.Contains(e.logs.String(), `"renewed":true`) {
		t.Fatal("the renewal is not in the audit line")
	}
	// The renewed token is kept: the next call mints nothing.
	e.do("GET", "/proxy/Mail/b", proxyAgent, nil, nil)
	if n := e.fosite.TokenCalls() - calls; n != 1 || e.api.Last(t).Token != last.Token {
		t.Fatalf("after renewal: %d token requests", n)
	}
}

func TestProxyUpstreamErrorsPassUnmarked(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	resp, out := e.do("GET", "/proxy/Mail/status?code=429&retryAfter=7", proxyAgent, nil, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("Connectors-Error") != "" || !strings.Contains(string(out), "from the API") {
		t.Fatalf("429: %d Retry-After %q Connectors-Error %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Connectors-Error"), out)
	}
	resp, out = e.do("GET", "/proxy/Mail/status?code=500", proxyAgent, nil, nil)
	if resp.StatusCode != 500 || resp.Header.Get("Connectors-Error") != "" || !strings.Contains(string(out), "from the API") {
		t.Fatalf("500: %d %q %s", resp.StatusCode, resp.Header.Get("Connectors-Error"), out)
	}
	// A 403 from the API is the API's, not the proxy's refusal.
	resp, _ = e.do("GET", "/proxy/Mail/status?code=403", proxyAgent, nil, nil)
	if resp.StatusCode != 403 || resp.Header.Get("Connectors-Error") != "" {
		t.Fatalf("403: %d %q", resp.StatusCode, resp.Header.Get("Connectors-Error"))
	}
}

func TestProxyStreamsEvents(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("LLM", "/v1/", proxyAgent)
	req, _ := http.NewRequest("GET", e.url+"/proxy/LLM/sse?events=3", nil)
	req.Header.Set("Connectors-Agent", proxyAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := make(chan string, 8)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				close(got)
				return
			}
		}
	}()
	for i := range 3 {
		// Event i arrives before the API is told to send event i+1.
		select {
		case s := <-got:
			if !strings.Contains(s, fmt.Sprintf(`"n":%d`, i)) {
				t.Fatalf("event %d: got %q", i, s)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d did not arrive while the API waited", i)
		}
		e.api.Next <- struct{}{}
	}
}

func TestProxySilentAPITimesOut(t *testing.T) {
	t.Setenv("CONNECTORS_PROXY_TIMEOUT", "1s")
	e := newProxyEnv(t)
	e.connector("Slow", "/v1/", proxyAgent)
	e.do("GET", "/proxy/Slow/warm", proxyAgent, nil, nil) // mint first
	start := time.Now()
	resp, out := e.do("GET", "/proxy/Slow/hang", proxyAgent, nil, nil)
	took := time.Since(start)
	proxyError(t, resp, out, 504, "upstream_timeout")
	if took < time.Second || took > 5*time.Second {
		t.Fatalf("504 after %v, want about CONNECTORS_PROXY_TIMEOUT (1s)", took)
	}
}

func TestProxyBodyLimit(t *testing.T) {
	t.Setenv("CONNECTORS_PROXY_MAX_BODY_BYTES", "2000000")
	e := newProxyEnv(t)
	e.connector("Up", "/v1/", proxyAgent)
	before := len(e.api.Requests())
	resp, out := e.do("PUT", "/proxy/Up/obj", proxyAgent, bytes.NewReader(make([]byte, 2_000_001)), nil)
	proxyError(t, resp, out, 413, "payload_too_large")
	if len(e.api.Requests()) != before {
		t.Fatal("a body over the limit (Content-Length) reached the API")
	}
	// Chunked, so the size shows only while streaming.
	pr, pw := io.Pipe()
	go func() {
		for range 30 {
			if _, err := pw.Write(make([]byte, 100_000)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, out = e.do("PUT", "/proxy/Up/obj", proxyAgent, pr, nil)
	proxyError(t, resp, out, 413, "payload_too_large")
	if resp, out := e.do("PUT", "/proxy/Up/obj", proxyAgent, bytes.NewReader(make([]byte, 2_000_000)), nil); resp.StatusCode != 200 {
		t.Fatalf("at the limit: %d %s", resp.StatusCode, out)
	}
}

func TestProxyConcurrentCallsMintOnce(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Fresh", "/v1/", proxyAgent)
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.url+"/proxy/Fresh/item", nil)
			req.Header.Set("Connectors-Agent", proxyAgent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("a call answered %d", c)
		}
	}
	if n := e.fosite.TokenCalls(); n != 1 {
		t.Fatalf("%d token requests for 100 concurrent calls, want 1", n)
	}
	if n := strings.Count(e.logs.String(), `"op":"proxy"`); n != 100 {
		t.Fatalf("%d audit lines for 100 calls", n)
	}
}
