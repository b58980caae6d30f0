package mcp_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/functions/internal/functest"
	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/faulttest"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/proxy"
	"connectors.dev/connectors/shared/proxy/apitest"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Credentials the tests hand out; none may appear in an MCP message (request
// or answer) or a log line. The S3 session token appears only inside
// presigned S3 URLs, which sign_url returns on purpose: the URL is the
// credential it grants.
const (
	awsKeyID       = "AKIALONGLIVED00001"
	awsSecret      = "long-lived-aws-secret-9f2c"
	stsKeyID       = "ASIATEMPORARY00001"
	stsSecret      = "sts-temporary-secret-41d7"
	stsSession     = "sts-session-token-77aa"
	gcsAccessToken = "ya29.minted-gcs-token-c3e1"
	saEmail        = "mcp-sa@proj-1.iam.gserviceaccount.com"
)

type env struct {
	t      *testing.T
	url    string // the function's URL: <server>/mcp
	logs   *logtest.Buffer
	gcs    *objectservers.GCS
	s3     *objectservers.S3
	saKey  *rsa.PublicKey
	saJSON string
	admin  *functest.Client
	wire   *wire
	srv    *mcp.Server
	// secrets are values no message or log line may hold, besides the
	// constants above and every token the API received.
	secrets []string
	// fosite is the OAuth provider, api the loopback API behind call_api.
	fosite *oauthtest.Fosite
	api    *apitest.API
	// gcsProxy stands between the file tools and GCS (envOptions.stallable).
	gcsProxy *faulttest.Proxy
}

type envOptions struct {
	authn   *auth.Authenticator
	options mcp.Options
	// requestTimeout, when set, serves the functions under
	// httpx.WithDeadline, as deployed.
	requestTimeout time.Duration
	// stallable puts a faulttest.Proxy between the file tools and GCS
	// (env.gcsProxy).
	stallable bool
}

// oauthSecret is the OAuth connectors' client secret at fosite.
const oauthSecret = "mcp-oauth-client-secret-5d1e"

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	objectservers.IsolateAWS(t, "AKIANOTUSED0000001", "not-used-default-chain")
	b := testenv.New(t, testenv.Embedded)
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	authn := o.authn
	if authn == nil {
		var err error
		if authn, err = auth.New(auth.Config{Local: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, logs: logs, gcs: objectservers.NewGCS(t, "gcs-bucket"), s3: objectservers.NewS3(t, "s3-bucket"), wire: &wire{}}
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	svc := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{
		AllowInsecureURLs: true, AllowPrivateNetworks: true, TokenConnectTimeout: time.Second, TokenTimeout: 2 * time.Second,
	})
	// Stand-ins for Google's token endpoint and STS, as in the files
	// function's tests: the storage servers then see these credentials.
	svc.ByGrant = map[string]mint.Minter{
		connector.GrantGCSServiceAccount: mint.MinterFunc(func(ctx context.Context, c *connector.Connector, b secret.Bundle) (*mint.Minted, error) {
			return &mint.Minted{Credential: mint.Credential{AccessToken: gcsAccessToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}}, nil
		}),
		connector.GrantAWSIAM: mint.MinterFunc(func(ctx context.Context, c *connector.Connector, b secret.Bundle) (*mint.Minted, error) {
			exp := time.Now().Add(time.Hour)
			return &mint.Minted{Credential: mint.Credential{Expiry: exp, AWS: &mint.AWSCredentials{
				AccessKeyID: stsKeyID, SecretAccessKey: stsSecret, SessionToken: stsSession, Expiration: exp,
			}}}, nil
		}),
	}
	key, pub, err := cloudtest.NewServiceAccountKey(saEmail, "key-project", "https://oauth2.googleapis.com/token")
	if err != nil {
		t.Fatal(err)
	}
	e.saKey, e.saJSON = pub, string(key)
	fileOpts, err := files.OptionsFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	fileOpts.GCSEndpoint, fileOpts.S3Endpoint = e.gcs.URL, e.s3.URL
	if o.stallable {
		e.gcsProxy = faulttest.Start(t, strings.TrimPrefix(e.gcs.URL, "http://"))
		fileOpts.GCSEndpoint = "http://" + e.gcsProxy.Addr()
	}
	e.srv = &mcp.Server{Mint: svc, Auth: authn, Log: log, Options: o.options,
		Files: &files.Server{Mint: svc, Auth: authn, Log: log, Options: fileOpts}}
	// call_api: a real OAuth server and an API that checks its tokens
	// with it, through the proxy's own service.
	e.fosite = oauthtest.NewFosite(t)
	e.fosite.AddClient("mcp-client", oauthSecret, false, "read")
	e.api = apitest.New(t)
	e.api.Active = e.fosite.Active
	e.srv.Proxy = proxy.NewService(svc, config.Config{AllowInsecureURLs: true, AllowPrivateNetworks: true, TokenConnectTimeout: time.Second}, proxy.Limits{}, log)
	var wrap func(http.Handler) http.Handler
	if o.requestTimeout > 0 {
		wrap = func(h http.Handler) http.Handler { return httpx.WithDeadline(h, o.requestTimeout) }
	}
	e.admin = functest.Serve(t, wrap, e.srv.Handlers(), (&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers())
	e.url = e.admin.URL + "/" + mcp.FnMCP
	t.Cleanup(e.checkNoLeaks)
	return e
}

// allSecrets lists every secret value, in the forms a leak could take.
func (e *env) allSecrets() []string {
	out := append([]string{awsSecret, stsSecret, gcsAccessToken, e.saJSON}, cloudtest.PrivateKeyLines([]byte(e.saJSON))...)
	more := append([]string{awsSecret, stsSecret, gcsAccessToken, oauthSecret}, e.secrets...)
	for _, r := range e.api.Requests() {
		if r.Token != "" {
			more = append(more, r.Token)
		}
	}
	for _, s := range more {
		out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s))
	}
	return out
}

// checkNoLeaks searches every MCP message and answer and every log line.
func (e *env) checkNoLeaks() {
	msgs := e.wire.all() + "\n" + e.admin.Bodies()
	logs := e.logs.String()
	for _, s := range e.allSecrets() {
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret appears in the logs: %.12s…", s)
		}
		if strings.Contains(msgs, s) {
			e.t.Errorf("a secret appears in an MCP message: %.12s…", s)
		}
	}
}

// create makes a connector through the admin function.
func (e *env) create(in map[string]any) {
	e.t.Helper()
	e.createAs(in, "")
}

// createAs makes a connector as the admin whose ID token is token.
func (e *env) createAs(in map[string]any, token string) {
	e.t.Helper()
	if resp, out := e.admin.Post(connectors.FnCreate, in, token); resp.StatusCode != 201 {
		e.t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
}

// storageConnectors makes a GCS and an S3 connector for agent-1, and an
// inactive one.
func (e *env) storageConnectors() {
	e.create(map[string]any{"name": "GCS", "grantType": "gcs_service_account", "clientId": "conn-project", "clientSecret": e.saJSON, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "S3", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "Off", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-1"}, "active": false})
}

// apiConnector creates a client_credentials connector at fosite for
// agents whose API is the test API below base ("" for no apiBaseUrl).
func (e *env) apiConnector(name, base string, active bool, agents ...string) {
	e.t.Helper()
	c := map[string]any{"name": name, "url": e.fosite.TokenURL(), "grantType": "client_credentials",
		"clientId": "mcp-client", "clientSecret": oauthSecret, "scope": "read", "agents": agents, "active": active}
	if base != "" {
		c["apiBaseUrl"] = e.api.URL + base
	}
	e.create(c)
}

// wire is the Go client's HTTP transport: it adds the caller's headers and
// keeps every request and answer body, for the leak search.
type wire struct {
	mu     sync.Mutex
	bodies []string
}

func (w *wire) keep(b []byte) {
	w.mu.Lock()
	w.bodies = append(w.bodies, string(b))
	w.mu.Unlock()
}

func (w *wire) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.bodies, "\n")
}

type headerTransport struct {
	w      *wire
	header http.Header
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		h.w.keep(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	h.w.keep(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// connect opens a Go SDK client session on the function with these
// headers (Connectors-Agent: agent-1 unless header says otherwise).
func (e *env) connect(header http.Header) (*sdk.ClientSession, error) {
	if header == nil {
		header = http.Header{mcp.AgentHeader: {"agent-1"}}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "mcp-test", Version: "1"}, nil)
	tr := &sdk.StreamableClientTransport{Endpoint: e.url, HTTPClient: &http.Client{Transport: &headerTransport{w: e.wire, header: header}}, MaxRetries: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Connect(ctx, tr, nil)
}

func (e *env) session() *sdk.ClientSession {
	e.t.Helper()
	cs, err := e.connect(nil)
	if err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool and returns its result, its structured content as a
// map, and the error object of a tool error (nil when it succeeded).
func call(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any) (*sdk.CallToolResult, map[string]any, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	if res.IsError {
		text := res.Content[0].(*sdk.TextContent).Text
		var body struct {
			Error map[string]any `json:"error"`
		}
		if err := json.Unmarshal([]byte(text), &body); err != nil || body.Error == nil {
			t.Fatalf("%s: tool error is not the API's error body: %s", tool, text)
		}
		return res, nil, body.Error
	}
	var out map[string]any
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: structured content: %v", tool, err)
	}
	return res, out, nil
}

// mustOK calls a tool that must succeed.
func mustOK(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any) map[string]any {
	t.Helper()
	_, out, errObj := call(t, cs, tool, args)
	if errObj != nil {
		t.Fatalf("%s %v: tool error %v", tool, args, errObj)
	}
	return out
}

// mustRefuse calls a tool that must answer a tool error with code (and
// field, when given).
func mustRefuse(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any, code, field string) map[string]any {
	t.Helper()
	_, _, errObj := call(t, cs, tool, args)
	if errObj == nil {
		t.Fatalf("%s %v: succeeded, want %s", tool, args, code)
	}
	if errObj["code"] != code || (field != "" && errObj["field"] != field) {
		t.Fatalf("%s %v: error %v, want code %s field %q", tool, args, errObj, code, field)
	}
	if msg, _ := errObj["message"].(string); msg == "" || strings.Contains(msg, "goroutine") {
		t.Fatalf("%s: error message %q", tool, msg)
	}
	return errObj
}
