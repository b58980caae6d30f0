package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	proxyfn "connectors.dev/connectors/functions/proxy"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
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
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	audience  = "https://proxy.example.run.app"
	runtimeA  = "a@p.iam.gserviceaccount.com"
	runtimeB  = "b@p.iam.gserviceaccount.com"
	secretVal = "proxy-fn-client-secret-31c9"
)

func ptr[T any](v T) *T { return &v }

// TestProxyDeployedCallers: with ID tokens and agent bindings, as
// deployed. A runtime calls only for its own agents (the refusal is
// audited), its own ID token never reaches the API, and no token at all is
// 401; on both backends.
func TestProxyDeployedCallers(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		iss := authtest.NewIssuer(t)
		authn, err := auth.New(auth.Config{
			Audience:      audience,
			AgentBindings: map[string][]string{"agent-a": {runtimeA}, "agent-b": {runtimeB}},
		}, iss.Client)
		if err != nil {
			t.Fatal(err)
		}
		f := oauthtest.NewFosite(t)
		f.AddClient("cid", secretVal, true, "read")
		api := apitest.New(t)
		api.Active = f.Active
		logs := &logtest.Buffer{}
		log := logging.New(logs)
		cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
		cfg := config.Config{AllowInsecureURLs: true, TokenConnectTimeout: config.DefaultTokenConnectTimeout, TokenTimeout: config.DefaultTokenTimeout}
		svc := proxy.NewService(mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, cfg), cfg, proxy.Limits{}, log)
		srv := httptest.NewServer((&proxyfn.Server{Proxy: svc, Auth: authn, Log: log}).Handlers()[proxyfn.FnProxy])
		t.Cleanup(srv.Close)
		if _, err := cat.Create(context.Background(), &connector.Input{
			Name: ptr("Crm"), URL: ptr(f.TokenURL()), GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(secretVal),
			HeaderAsPayload: ptr(true), Scope: ptr("read"), APIBaseURL: ptr(api.URL + "/crm/v3/"), Agents: ptr([]string{"agent-a", "agent-b"}),
		}, "admin"); err != nil {
			t.Fatal(err)
		}
		call := func(idToken, agent string) (*http.Response, string) {
			req, _ := http.NewRequest("GET", srv.URL+"/Crm/contacts?limit=2", nil)
			if idToken != "" {
				req.Header.Set("Authorization", "Bearer "+idToken)
			}
			req.Header.Set("Connectors-Agent", agent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp, string(out)
		}
		tokA := iss.Token(t, runtimeA, audience)
		resp, out := call(tokA, "agent-a")
		if resp.StatusCode != 200 {
			t.Fatalf("bound runtime: %d %s", resp.StatusCode, out)
		}
		r := api.Last(t)
		if r.Path != "/crm/v3/contacts" || r.RawQuery != "limit=2" || r.Token == "" || strings.Contains(strings.Join(r.Header.Values("Authorization"), ","), tokA) {
			t.Fatalf("the API got %s?%s Authorization %q", r.Path, r.RawQuery, r.Header.Get("Authorization"))
		}
		for k, vs := range r.Header {
			if strings.Contains(strings.Join(vs, ","), tokA) {
				t.Fatalf("the caller's ID token reached the API in %s", k)
			}
		}
		if strings.Contains(out, r.Token) {
			t.Fatal("the answer holds the connector's token")
		}
		before := len(api.Requests())
		resp, out = call(tokA, "agent-b")
		if resp.StatusCode != 403 || resp.Header.Get("Connectors-Error") != "permission_denied" {
			t.Fatalf("runtime A for agent B: %d %s", resp.StatusCode, out)
		}
		if want := `"principal":"` + runtimeA + `","agent":"agent-b","connector":"Crm","op":"proxy"`; !strings.Contains(logs.String(), want) {
			t.Fatalf("no audit line %s in:\n%s", want, logs.String())
		}
		resp, _ = call("", "agent-a")
		if resp.StatusCode != 401 || resp.Header.Get("Connectors-Error") != "unauthenticated" {
			t.Fatalf("no ID token: %d", resp.StatusCode)
		}
		if len(api.Requests()) != before {
			t.Fatal("a refused call reached the API")
		}
		for _, s := range []string{secretVal, r.Token, tokA} {
			if strings.Contains(logs.String(), s) {
				t.Fatalf("a token or secret is in the logs: %.10s…", s)
			}
		}
	})
}
