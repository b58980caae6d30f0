package mint_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

const saEmail = "rag-builder@demo-project.iam.gserviceaccount.com"

// cloudInstance is instance() with the cloud minters registered, on a
// client that may reach the loopback test servers.
func cloudInstance(t *testing.T, b testenv.Backends, clk *clock.Fake, name string) *mint.Service {
	t.Helper()
	s := instance(t, b, clk, name)
	hc := outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second})
	s.ByGrant = map[string]mint.Minter{
		connector.GrantGCSServiceAccount: &mint.Google{HTTP: hc, Now: clk.Now},
		connector.GrantAWSIAM:            &mint.AWS{HTTP: hc},
	}
	return s
}

// googleTokenServer is a Google OAuth token endpoint on loopback that
// verifies the JWT bearer assertion (RFC 7523) the way Google does: the
// grant type, an RS256 signature by the service account's key, iss, aud,
// scope, iat and exp.
type googleTokenServer struct {
	t     *testing.T
	srv   *httptest.Server
	key   *rsa.PrivateKey
	calls atomic.Int32

	mu         sync.Mutex
	wantScope  string
	refuse     bool // answer 400 invalid_grant, echoing the assertion and echo
	echo       string
	body       string // non-empty: answer 200 with this body
	hang       chan struct{}
	assertions []string
}

func newGoogleTokenServer(t *testing.T) *googleTokenServer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := &googleTokenServer{t: t, key: key, wantScope: mint.DefaultGoogleScope, hang: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	t.Cleanup(func() { close(g.hang) }) // runs first: a hanging handler ends
	return g
}

func (g *googleTokenServer) tokenURI() string { return g.srv.URL + "/token" }

// keyJSON is the service account's JSON key as the Cloud console
// downloads it, its token_uri pointing at this server.
func (g *googleTokenServer) keyJSON(t *testing.T) string {
	der, err := x509.MarshalPKCS8PrivateKey(g.key)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "demo-project",
		"private_key_id": "key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   saEmail,
		"client_id":      "1234567890",
		"token_uri":      g.tokenURI(),
	})
	return string(data)
}

func (g *googleTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	g.mu.Lock()
	wantScope, refuse, body, hang, echo := g.wantScope, g.refuse, g.body, g.hang, g.echo
	g.mu.Unlock()
	if body == "hang" {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	fail := func(format string, args ...any) {
		g.t.Errorf("token endpoint: "+format, args...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_request"}`)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		fail("%s %s", r.Method, r.URL.Path)
		return
	}
	if err := r.ParseForm(); err != nil {
		fail("form: %v", err)
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("grant_type %q", gt)
		return
	}
	assertion := r.PostForm.Get("assertion")
	g.mu.Lock()
	g.assertions = append(g.assertions, assertion)
	g.mu.Unlock()
	if refuse {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		// A careless endpoint echoing what it got: it must not reach errors.
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature: %s %s"}`, assertion, echo)
		return
	}
	if err := g.verify(assertion, wantScope); err != nil {
		fail("assertion: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if body != "" {
		fmt.Fprint(w, body)
		return
	}
	fmt.Fprintf(w, `{"access_token":"ya29.google-access-%d","expires_in":3599,"token_type":"Bearer"}`, g.calls.Load())
}

// verify checks the assertion with cloudtest's verifier (RS256 by the
// key, kid, iss, aud, iat, exp), and that it asks for exactly wantScope.
func (g *googleTokenServer) verify(assertion, wantScope string) error {
	v := &cloudtest.GoogleToken{PublicKey: &g.key.PublicKey, ClientEmail: saEmail, TokenURI: g.tokenURI(), KeyID: "key-1"}
	scope, err := v.Verify(assertion)
	if err != nil {
		return err
	}
	if scope != wantScope {
		return fmt.Errorf("scope %q, want %q", scope, wantScope)
	}
	return nil
}

func gcsConnector(name, key, scope string) *connector.Input {
	in := &connector.Input{
		Name: ptr(name), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key),
		Agents: ptr([]string{"agent-1"}),
	}
	if scope != "" {
		in.Scope = ptr(scope)
	}
	return in
}

// assertNoKeyMaterial fails when err's text carries the JSON key, the PEM
// private key or any line of it, or an assertion the endpoint received.
func assertNoKeyMaterial(t *testing.T, err error, key string, assertions []string) {
	t.Helper()
	msg := err.Error()
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	_ = json.Unmarshal([]byte(key), &k)
	forbidden := append([]string{key, k.PrivateKey}, assertions...)
	for _, line := range strings.Split(k.PrivateKey, "\n") {
		if len(line) > 20 {
			forbidden = append(forbidden, line)
		}
	}
	for _, a := range assertions {
		forbidden = append(forbidden, strings.Split(a, ".")...)
	}
	for _, f := range forbidden {
		if len(f) > 8 && strings.Contains(msg, f) {
			t.Fatalf("error carries key material or the assertion: %q", msg)
		}
	}
}

func TestGoogleServiceAccountToken(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	g := newGoogleTokenServer(t)
	clk := clock.NewFake()
	createConnector(t, b, gcsConnector("Gcs", g.keyJSON(t), ""))
	s := cloudInstance(t, b, clk, "i1")

	c, err := s.Token(ctx, "Gcs", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken != "ya29.google-access-1" || c.TokenType != "Bearer" || c.AWS != nil {
		t.Fatalf("credential %+v", c)
	}
	if want := clk.Now().Add(3599 * time.Second); !c.Expiry.Equal(want) {
		t.Fatalf("expiry %s, want %s", c.Expiry, want)
	}
	// Cached: neither this instance nor another asks Google again.
	clk.Advance(20 * time.Minute)
	if c2, err := s.Token(ctx, "Gcs", "agent-1"); err != nil || c2.AccessToken != c.AccessToken {
		t.Fatalf("second call: %v %v", c2, err)
	}
	other := cloudInstance(t, testenv.Instance(t, b), clk, "i2")
	if c3, err := other.Token(ctx, "Gcs", "agent-1"); err != nil || c3.AccessToken != c.AccessToken {
		t.Fatalf("other instance: %v %v", c3, err)
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("token endpoint called %d times, want 1", n)
	}
	// Near expiry a new token is minted.
	clk.Advance(40 * time.Minute)
	if c4, err := s.Token(ctx, "Gcs", "agent-1"); err != nil || c4.AccessToken != "ya29.google-access-2" {
		t.Fatalf("after expiry: %v %v", c4, err)
	}
}

func TestGoogleServiceAccountConnectorScope(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	g := newGoogleTokenServer(t)
	// Scopes separated by several spaces are sent separated by one.
	g.wantScope = "https://www.googleapis.com/auth/devstorage.read_only https://www.googleapis.com/auth/generative-language"
	createConnector(t, b, gcsConnector("Gcs", g.keyJSON(t), "https://www.googleapis.com/auth/devstorage.read_only  https://www.googleapis.com/auth/generative-language"))
	s := cloudInstance(t, b, clock.NewFake(), "i1")
	if c, err := s.Token(context.Background(), "Gcs", "agent-1"); err != nil || c.AccessToken == "" {
		t.Fatalf("token: %v %v", c, err)
	}
}

func TestGoogleServiceAccountRefused(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	g := newGoogleTokenServer(t)
	g.refuse = true
	key := g.keyJSON(t)
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	_ = json.Unmarshal([]byte(key), &k)
	g.echo = strings.Split(k.PrivateKey, "\n")[3] // a line of the key's body
	createConnector(t, b, gcsConnector("Gcs", key, ""))
	s := cloudInstance(t, b, clock.NewFake(), "i1")
	_, err := s.Token(context.Background(), "Gcs", "agent-1")
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 400 || ue.Code != "invalid_grant" {
		t.Fatalf("want the endpoint's 400 invalid_grant, got %v", err)
	}
	if ue.Description != "Invalid JWT Signature: [redacted] [redacted]" {
		t.Fatalf("description %q", ue.Description)
	}
	if m := httpx.Map(err); m.Status != http.StatusBadGateway || m.Code != httpx.CodeUpstreamError || m.Upstream == nil || m.Upstream.Error != "invalid_grant" {
		t.Fatalf("mapped to %+v", m)
	}
	g.mu.Lock()
	assertions := g.assertions
	g.mu.Unlock()
	if len(assertions) != 1 {
		t.Fatalf("assertions %d", len(assertions))
	}
	assertNoKeyMaterial(t, err, key, assertions)
}

// TestGoogleMinterErrors calls the minter directly, against real servers,
// for each failure class.
func TestGoogleMinterErrors(t *testing.T) {
	g := newGoogleTokenServer(t)
	key := g.keyJSON(t)
	conn := &connector.Connector{Name: "Gcs", GrantType: connector.GrantGCSServiceAccount}
	loopback := func(timeout time.Duration) *http.Client {
		return outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: timeout})
	}
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/token"
	ln.Close()
	withTokenURI := func(uri string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(key), &m)
		m["token_uri"] = uri
		out, _ := json.Marshal(m)
		return string(out)
	}

	cases := []struct {
		name   string
		client *http.Client
		key    string
		body   string
		check  func(error) bool
		status int // of httpx.Map
	}{
		{name: "timeout", client: loopback(300 * time.Millisecond), key: key, body: "hang",
			check: func(err error) bool { return errors.Is(err, outbound.ErrTimeout) }, status: 504},
		{name: "unreachable", client: loopback(2 * time.Second), key: withTokenURI(closedURL),
			check: func(err error) bool { return errors.Is(err, outbound.ErrUnreachable) }, status: 504},
		{name: "loopback forbidden in production", client: outbound.NewClient(outbound.Options{}), key: key,
			check: func(err error) bool { return errors.Is(err, netguard.ErrForbidden) }, status: 409},
		{name: "plain http to a public host", client: loopback(time.Second), key: withTokenURI("http://oauth2.example.com/token"),
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "https") }, status: 500},
		{name: "2xx without a token", client: loopback(2 * time.Second), key: key, body: `{"token_type":"Bearer"}`,
			check: func(err error) bool { return errors.Is(err, oauth.ErrInvalidResponse) }, status: 502},
		{name: "2xx not JSON", client: loopback(2 * time.Second), key: key, body: `<html>oops</html>`,
			check: func(err error) bool { return errors.Is(err, oauth.ErrInvalidResponse) }, status: 502},
		{name: "not a key", client: loopback(time.Second), key: `{"type":"service_account","private_key":"nope"`,
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "cannot be read") }, status: 500},
		{name: "key that cannot sign", client: loopback(time.Second),
			key:   `{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`,
			check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "cannot sign") }, status: 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g.mu.Lock()
			g.body = c.body
			g.mu.Unlock()
			m := &mint.Google{HTTP: c.client}
			start := time.Now()
			_, err := m.Mint(context.Background(), conn, secret.Bundle{ClientSecret: c.key})
			if !c.check(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if got := httpx.Map(err).Status; got != c.status {
				t.Fatalf("maps to %d, want %d (%v)", got, c.status, err)
			}
			t.Logf("error: %v", err)
			if time.Since(start) > 3*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			g.mu.Lock()
			assertions := g.assertions
			g.mu.Unlock()
			assertNoKeyMaterial(t, err, c.key, assertions)
		})
	}
}

func TestGoogleMinterCanceled(t *testing.T) {
	g := newGoogleTokenServer(t)
	g.body = "hang"
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	m := &mint.Google{HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}})}
	_, err := m.Mint(ctx, &connector.Connector{Name: "Gcs"}, secret.Bundle{ClientSecret: g.keyJSON(t)})
	if !errors.Is(err, context.Canceled) || errors.Is(err, outbound.ErrTimeout) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}
