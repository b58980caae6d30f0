package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/proxy"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	awsKeyID  = "AKIAIOSFODNN7EXAMPLE"
	awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func ptr[T any](v T) *T { return &v }

// newService is the proxy over the embedded backends, loopback allowed.
func newService(t testing.TB) (*proxy.Service, *catalog.Catalog, *logtest.Buffer) {
	b := testenv.New(t, testenv.Embedded)
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	cfg := config.Config{AllowInsecureURLs: true, AllowPrivateNetworks: true, TokenConnectTimeout: config.DefaultTokenConnectTimeout, TokenTimeout: config.DefaultTokenTimeout}
	m := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, cfg)
	return proxy.NewService(m, cfg, proxy.Limits{}, log), cat, logs
}

// An aws_iam connector's calls are signed with SigV4 for the service and
// region of its extraParams, with the temporary credentials STS issued:
// the API checks the signature as AWS does, over the body when it was kept
// and with UNSIGNED-PAYLOAD when it was streamed.
func TestProxyAWSSigV4(t *testing.T) {
	sts := &cloudtest.STS{KeyID: awsKeyID, SecretKey: awsSecret, Region: "eu-west-1"}
	stsSrv := httptest.NewServer(sts)
	t.Cleanup(stsSrv.Close)
	var verified []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := sts.VerifyIssued(r, body, "execute-api", "eu-west-1"); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		verified = append(verified, r.Method+" "+r.URL.EscapedPath()+" "+r.Header.Get("X-Amz-Content-Sha256"))
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)
	svc, cat, logs := newService(t)
	_, err := cat.Create(context.Background(), &connector.Input{
		Name: ptr("Lambda"), GrantType: ptr("aws_iam"), URL: ptr(stsSrv.URL), ClientID: ptr(awsKeyID), ClientSecret: ptr(awsSecret),
		APIBaseURL: ptr(api.URL + "/prod/"), Agents: ptr([]string{"agent-1"}),
		ExtraParams: ptr(map[string]string{"service": "execute-api", "region": "eu-west-1"}),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		body   []byte
		length int64
	}{
		{"GET", nil, 0},
		{"POST", []byte(`{"order":42}`), 12},
		{"PUT", bytes.Repeat([]byte("z"), proxy.ReplayBody+10), -1}, // streamed
	} {
		var body io.Reader
		if tc.body != nil {
			body = bytes.NewReader(tc.body)
		}
		resp, err := svc.Do(context.Background(), &proxy.Call{Principal: "p", Agent: "agent-1", Connector: "Lambda",
			Method: tc.method, Path: "orders/a%20b", Header: http.Header{"X-Amz-Security-Token": {"caller-smuggled"}}, Body: body, ContentLength: tc.length})
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.method, resp.StatusCode, out)
		}
	}
	if len(verified) != 3 || !strings.HasSuffix(verified[2], "UNSIGNED-PAYLOAD") || strings.HasSuffix(verified[1], "UNSIGNED-PAYLOAD") {
		t.Fatalf("verified %v", verified)
	}
	if strings.Contains(logs.String(), awsSecret) {
		t.Fatal("the secret key is in the logs")
	}
}

// A gcs_service_account connector sends the Google access token minted
// from its key, so an agent off GCP reaches Google APIs without the key.
func TestProxyGoogleServiceAccount(t *testing.T) {
	g := &cloudtest.GoogleToken{ClientEmail: "agent@demo-project.iam.gserviceaccount.com", RequiredScope: mint.DefaultGoogleScope}
	tokenSrv := httptest.NewServer(g)
	t.Cleanup(tokenSrv.Close)
	g.TokenURI = tokenSrv.URL + "/token"
	key, pub, err := cloudtest.NewServiceAccountKey(g.ClientEmail, "demo-project", g.TokenURI)
	if err != nil {
		t.Fatal(err)
	}
	g.PublicKey = pub
	var got string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Write([]byte(`{"candidates":[]}`))
	}))
	t.Cleanup(api.Close)
	svc, cat, logs := newService(t)
	if _, err := cat.Create(context.Background(), &connector.Input{
		Name: ptr("Vertex"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(string(key)),
		APIBaseURL: ptr(api.URL + "/v1/projects/demo-project/locations/us-central1/"), Agents: ptr([]string{"agent-1"}),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	resp, err := svc.Do(context.Background(), &proxy.Call{Principal: "p", Agent: "agent-1", Connector: "Vertex", Method: "POST",
		Path: "publishers/google/models/gemini-2.0-flash:generateContent", Body: strings.NewReader(`{"contents":[]}`), ContentLength: 15})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(got, "Bearer ya29.") {
		t.Fatalf("%d, the API got Authorization %q", resp.StatusCode, got)
	}
	if strings.Contains(logs.String(), "ya29.") || strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("a token or the key is in the logs")
	}
}

func TestOutboundHeader(t *testing.T) {
	in := http.Header{
		"Authorization": {"Bearer x"}, "Proxy-Authorization": {"x"}, "X-Serverless-Authorization": {"x"},
		"Cookie": {"a=b"}, "Forwarded": {"for=1.2.3.4"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Proto": {"https"},
		"Connectors-Agent": {"a"}, "Connectors-Anything": {"b"}, "Connection": {"close, X-Secret-Hop"}, "X-Secret-Hop": {"1"},
		"Keep-Alive": {"timeout=5"}, "Te": {"trailers"}, "Upgrade": {"websocket"}, "Transfer-Encoding": {"chunked"},
		"X-Goog-Iap-Jwt-Assertion": {"jwt"}, "X-Amz-Security-Token": {"smuggled"}, "X-Amz-Date": {"x"},
		"Accept": {"application/json"}, "Content-Type": {"text/plain"}, "X-Custom": {"1", "2"}, "Accept-Encoding": {"gzip"},
	}
	out := proxy.OutboundHeader(in)
	want := http.Header{"Accept": {"application/json"}, "Content-Type": {"text/plain"}, "X-Custom": {"1", "2"}, "Accept-Encoding": {"gzip"}}
	if len(out) != len(want) {
		t.Fatalf("got %v", out)
	}
	for k, v := range want {
		if strings.Join(out[k], ",") != strings.Join(v, ",") {
			t.Fatalf("%s: %v", k, out[k])
		}
	}
	resp := http.Header{"Set-Cookie": {"s=1"}, "Connectors-Error": {"fake"}, "Connection": {"X-Drop"}, "X-Drop": {"1"},
		"Transfer-Encoding": {"chunked"}, "Retry-After": {"7"}, "Content-Type": {"application/json"}}
	dst := http.Header{}
	proxy.CopyResponseHeader(dst, resp)
	if len(dst) != 2 || dst.Get("Retry-After") != "7" || dst.Get("Content-Type") != "application/json" {
		t.Fatalf("response headers %v", dst)
	}
}
