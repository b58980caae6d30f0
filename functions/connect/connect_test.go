package connect_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connect"
	"connectors.dev/connectors/functions/internal/functest"
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

const (
	alice       = "alice@example.com"
	bob         = "bob@example.com"
	iapAudience = "/projects/123456/global/backendServices/789"
	appID       = "connect-app"
	appSecret   = "connect-app-secret-5b1e"
)

// recordingStates is the real store, remembering every verifier it was
// given so the test can search responses and logs for them; corrupt
// changes the next stored verifier, as a wrong one would be.
type recordingStates struct {
	connector.AuthStates
	mu        sync.Mutex
	verifiers []string
	corrupt   bool
}

func (r *recordingStates) PutAuthState(ctx context.Context, s *connector.AuthState) error {
	r.mu.Lock()
	r.verifiers = append(r.verifiers, s.Verifier)
	if r.corrupt {
		cp := *s
		cp.Verifier = strings.Repeat("w", 43)
		s, r.corrupt = &cp, false
	}
	r.mu.Unlock()
	return r.AuthStates.PutAuthState(ctx, s)
}

type flow struct {
	t       *testing.T
	srv     *oauthtest.Fosite
	client  *functest.Client
	cat     *catalog.Catalog
	minter  *mint.Service
	states  *recordingStates
	logs    *logtest.Buffer
	server  *connect.Server
	iss     *authtest.Issuer
	now     time.Time
	nowMu   sync.Mutex
	browser *http.Client
	seenMu  sync.Mutex
	seen    []string // redirects' Locations, which no body holds
}

func newFlow(t *testing.T, b testenv.Backends) *flow {
	t.Helper()
	f := &flow{t: t, srv: oauthtest.NewFosite(t), iss: authtest.NewIssuer(t), logs: &logtest.Buffer{}, now: time.Now()}
	log := logging.New(f.logs)
	f.cat = &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	authn, err := auth.New(auth.Config{Admins: []string{alice, bob}, IAPAudiences: []string{iapAudience}}, f.iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{AllowInsecureURLs: true, TokenTimeout: 10 * time.Second, TokenConnectTimeout: 5 * time.Second, DefaultTokenLifetime: time.Hour}
	f.states = &recordingStates{AuthStates: b.Store.(connector.AuthStates)}
	f.server = &connect.Server{Catalog: f.cat, States: f.states, OAuth: connect.NewClient(cfg), Auth: authn, Log: log,
		Now: func() time.Time { f.nowMu.Lock(); defer f.nowMu.Unlock(); return f.now }}
	f.minter = mint.NewService(f.cat, b.Cache, mint.KeyCreatedOnFirstUse, cfg)
	f.client = functest.Serve(t, nil, f.server.Handlers())
	f.srv.Register(oauthtest.Client{ID: appID, Secret: appSecret, Method: "client_secret_basic",
		Scopes: []string{"read", "offline"}, RedirectURIs: []string{f.client.URL + "/" + connect.FnCallback}})
	f.browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(f.checkNoLeaks)
	return f
}

func (f *flow) advance(d time.Duration) {
	f.nowMu.Lock()
	f.now = f.now.Add(d)
	f.nowMu.Unlock()
}

// create makes a refresh_token connector waiting to be connected.
func (f *flow) create(name string) *connector.Connector {
	f.t.Helper()
	in := connector.Input{
		Name: ptr(name), URL: ptr(f.srv.TokenURL()), AuthorizationURL: ptr(f.srv.AuthorizeURL()), GrantType: ptr("refresh_token"),
		ClientID: ptr(appID), ClientSecret: ptr(appSecret), ClientAuthMethod: ptr("client_secret_basic"), Scope: ptr("read offline"),
		AuthorizationParams: ptr(map[string]string{"prompt": "consent"}), Agents: ptr([]string{"mailer"}),
	}
	c, err := f.cat.Create(context.Background(), &in, alice)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// send makes a request as an admin behind IAP ("" for nobody).
func (f *flow) send(req *http.Request, who string) (*http.Response, []byte) {
	f.t.Helper()
	if who != "" {
		req.Header.Set(auth.HeaderIAPAssertion, f.iss.IAPToken(f.t, who, iapAudience))
	}
	return f.client.Do(req)
}

// authorize is connectors-authorize as who.
func (f *flow) authorize(who string, body map[string]any) (int, map[string]any) {
	f.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.client.URL+"/"+connect.FnAuthorize, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	resp, out := f.send(req, who)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// consent is the browser at the provider: it follows the authorization
// URL to fosite, which consents as its user and redirects back; the
// answer is where it redirects.
func (f *flow) consent(authorizationURL string) string {
	f.t.Helper()
	resp, err := f.browser.Get(authorizationURL)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, f.client.URL+"/"+connect.FnCallback+"?") {
		f.t.Fatalf("provider answered %d, Location %q; want a redirect to the callback", resp.StatusCode, loc)
	}
	return loc
}

// start runs authorize and consent as who, returning the callback URL.
func (f *flow) start(who, name string) string {
	f.t.Helper()
	status, body := f.authorize(who, map[string]any{"name": name})
	if status != http.StatusOK {
		f.t.Fatalf("authorize: %d %v", status, body)
	}
	return f.consent(body["authorizationUrl"].(string))
}

// callback is the browser following the provider's redirect as who; it
// answers the status and, for a redirect, the outcome in its fragment.
func (f *flow) callback(callbackURL, who string) (int, url.Values, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, callbackURL, nil)
	if who != "" {
		req.Header.Set(auth.HeaderIAPAssertion, f.iss.IAPToken(f.t, who, iapAudience))
	}
	// The browser does not follow the redirect here: its Location is the
	// outcome.
	resp, err := f.browser.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	frag := ""
	if i := strings.Index(loc, "#"); i >= 0 {
		frag = loc[i+1:]
	}
	outcome, _ := url.ParseQuery(frag)
	f.seenMu.Lock()
	f.seen = append(f.seen, loc, string(body))
	f.seenMu.Unlock()
	return resp.StatusCode, outcome, loc + string(body)
}

func (f *flow) get(name string) *connector.Connector {
	f.t.Helper()
	c, err := f.cat.Get(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// checkNoLeaks: no PKCE verifier, client secret or token in any body,
// redirect or log line.
func (f *flow) checkNoLeaks() {
	f.states.mu.Lock()
	defer f.states.mu.Unlock()
	f.seenMu.Lock()
	all := f.client.Bodies() + "\n" + f.logs.String() + "\n" + strings.Join(f.seen, "\n")
	f.seenMu.Unlock()
	for _, v := range append(f.states.verifiers, appSecret) {
		if v != "" && strings.Contains(all, v) {
			f.t.Errorf("a verifier or secret appears in a response or log line")
		}
	}
}
