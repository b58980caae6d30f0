package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	proxyfn "connectors.dev/connectors/functions/proxy"
	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/proxy"
	"connectors.dev/connectors/shared/proxy/apitest"
	"connectors.dev/connectors/shared/testenv"
	"golang.org/x/oauth2"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	clientSecret = "agent-client-secret-41d7"
	mailer       = "mailer"
)

// env is the token and proxy functions, each on a loopback server of its
// own as when deployed (the proxy below /proxy in the local mode, as the
// local run serves it), over real backends, with fosite as the provider
// and apitest's API, which checks each token with fosite.
type env struct {
	t        *testing.T
	fosite   *oauthtest.Fosite
	api      *apitest.API
	cat      *catalog.Catalog
	logs     *logtest.Buffer
	tokenURL string
	proxyURL string
	// transport reaches the functions (over TLS when they check ID
	// tokens, whose audiences are https URLs).
	transport http.RoundTripper

	// What reached each function: the Authorization and Connectors-Agent
	// headers of every request.
	mu          sync.Mutex
	atToken     []http.Header
	atProxy     []http.Header
	tokenCalls  atomic.Int32
	seen        bytes.Buffer // every answer the agent's code got through the proxy
	extraSecret []string     // more values no answer or log may hold
}

// newEnv serves the functions over b; authn builds each function's
// authenticator for its own URL (nil: local mode, loopback callers are
// local-dev).
func newEnv(t *testing.T, b testenv.Backends, authn func(audience string) *auth.Authenticator) *env {
	t.Helper()
	f := oauthtest.NewFosite(t)
	f.AddClient("agent-client", clientSecret, false, "read")
	api := apitest.New(t)
	api.Active = f.Active
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	minter := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{
		AllowInsecureURLs: true, TokenConnectTimeout: config.DefaultTokenConnectTimeout, TokenTimeout: config.DefaultTokenTimeout,
	})
	e := &env{t: t, fosite: f, api: api, cat: cat, logs: logs}

	local := authn == nil
	serve := httptest.NewServer
	if !local {
		// As deployed: https, the audience of the ID tokens.
		serve = httptest.NewTLSServer
	}
	var tokenFn, proxyFn http.Handler
	tokenSrv := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.tokenCalls.Add(1)
		e.record(&e.atToken, r)
		tokenFn.ServeHTTP(w, r)
	}))
	t.Cleanup(tokenSrv.Close)
	proxySrv := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.record(&e.atProxy, r)
		proxyFn.ServeHTTP(w, r)
	}))
	t.Cleanup(proxySrv.Close)
	e.tokenURL, e.proxyURL = tokenSrv.URL, proxySrv.URL
	if !local {
		// httptest's servers share one certificate.
		e.transport = proxySrv.Client().Transport
	}

	if local {
		authn = func(string) *auth.Authenticator {
			a, err := auth.New(auth.Config{Local: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		e.proxyURL += "/" + proxyfn.FnProxy
	}
	tokenFn = (&token.Server{Mint: minter, Auth: authn(e.tokenURL), Log: log}).Handlers()[token.FnToken]
	px := (&proxyfn.Server{
		Proxy: proxy.NewService(minter, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: config.DefaultTokenConnectTimeout},
			proxy.Limits{MaxBody: proxy.DefaultMaxBody, Timeout: proxy.DefaultTimeout, MaxDuration: proxy.DefaultMaxDuration}, log),
		Auth: authn(e.proxyURL), Log: log,
	}).Handlers()[proxyfn.FnProxy]
	proxyFn = px
	if local {
		proxyFn = http.StripPrefix("/"+proxyfn.FnProxy, px)
	}
	t.Cleanup(e.checkNoLeaks)
	return e
}

func (e *env) record(to *[]http.Header, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*to = append(*to, http.Header{"Authorization": r.Header.Values("Authorization"), proxyfn.HeaderAgent: r.Header.Values(proxyfn.HeaderAgent)})
}

func (e *env) lastAt(list *[]http.Header) http.Header {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(*list) == 0 {
		e.t.Fatal("no request reached the function")
	}
	return (*list)[len(*list)-1]
}

// connector creates a client_credentials connector at fosite for agents,
// whose apiBaseUrl is the API below base.
func (e *env) connector(name, base string, agents ...string) {
	e.t.Helper()
	raw, _ := json.Marshal(map[string]any{"name": name, "url": e.fosite.TokenURL(), "grantType": "client_credentials",
		"clientId": "agent-client", "clientSecret": clientSecret, "scope": "read", "agents": agents, "apiBaseUrl": e.api.URL + base})
	var in connector.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cat.Create(context.Background(), &in, "admin@example.com"); err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
}

// read reads resp whole and keeps it (headers and body) for the leak check.
func (e *env) read(resp *http.Response) []byte {
	e.t.Helper()
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, vs := range resp.Header {
		fmt.Fprintf(&e.seen, "%s: %s\n", k, strings.Join(vs, ","))
	}
	e.seen.Write(out)
	return out
}

// checkNoLeaks: no access token the API received, and not the client
// secret, reached the agent's code through the proxy or any log line; no
// ID token is in a log line either.
func (e *env) checkNoLeaks() {
	secrets := append([]string{clientSecret}, e.extraSecret...)
	for _, r := range e.api.Requests() {
		if r.Token != "" {
			secrets = append(secrets, r.Token)
		}
	}
	e.mu.Lock()
	seen := e.seen.String()
	e.mu.Unlock()
	logs := e.logs.String()
	for _, s := range secrets {
		if strings.Contains(seen, s) {
			e.t.Errorf("a credential reached the agent through the proxy: %.12s…", s)
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a credential is in the logs: %.12s…", s)
		}
	}
}

// static is an oauth2.TokenSource of one ID token, as idtoken's sources
// give it (in AccessToken).
func static(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
}
