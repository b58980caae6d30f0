package files_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/functions/internal/functest"
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
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Credentials the tests hand out; none may ever appear in a response body
// or a log line (the session token does appear, inside presigned S3 URLs:
// the URL is itself the credential it grants).
const (
	awsKeyID        = "AKIALONGLIVED00001"
	awsSecret       = "long-lived-aws-secret-9f2c"
	stsKeyID        = "ASIATEMPORARY00001"
	stsSecret       = "sts-temporary-secret-41d7"
	stsSession      = "sts-session-token-77aa"
	gcsAccessToken  = "ya29.minted-gcs-token-c3e1"
	saEmail         = "files-sa@proj-1.iam.gserviceaccount.com"
	grantEmail      = "rag-builder@proj-1.iam.gserviceaccount.com"
	defaultAWSKeyID = "AKIADEFAULTCHAIN01"
	defaultAWSSec   = "default-chain-secret-5e0b"
)

type env struct {
	t      *testing.T
	url    string
	logs   *logtest.Buffer
	gcs    *objectservers.GCS
	s3     *objectservers.S3
	saKey  *rsa.PublicKey
	saJSON string
	mints  atomic.Int32

	gcsProxy, s3Proxy *faulttest.Proxy
	secretReads       atomic.Int32 // secret.Store.Get calls

	client *functest.Client
}

type envOptions struct {
	maxWrite int64
	authn    *auth.Authenticator
	// requestTimeout, when set, serves the functions under
	// httpx.WithDeadline, as deployed.
	requestTimeout time.Duration
	readTimeout    time.Duration
	// proxied puts a faulttest.Proxy between the function and each
	// storage server (env.gcsProxy, env.s3Proxy).
	proxied bool
	// env is the function's settings, read by files.OptionsFromEnv
	// (endpoints, project and the fields above are set after it). Unless
	// it sets CONNECTORS_FILES_DEFAULT_ACCESS, agent-1 may use both test
	// buckets without a connector.
	env map[string]string
}

func newEnv(t *testing.T, kind string, o envOptions) *env {
	t.Helper()
	// The no-connector S3 path uses the default AWS chain: give it keys in
	// the environment and nothing else to find.
	objectservers.IsolateAWS(t, defaultAWSKeyID, defaultAWSSec)

	b := testenv.New(t, kind)
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	authn := o.authn
	if authn == nil {
		var err error
		if authn, err = auth.New(auth.Config{Local: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, logs: logs, gcs: objectservers.NewGCS(t, "gcs-bucket"), s3: objectservers.NewS3(t, "s3-bucket")}
	cat := &catalog.Catalog{Store: b.Store, Secrets: countingSecrets{b.Secrets, &e.secretReads}, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	svc := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: time.Second, TokenTimeout: time.Second})
	// Stand-ins for Google's token endpoint and STS: the credentials they
	// return are what the storage servers must then see.
	svc.ByGrant = map[string]mint.Minter{
		connector.GrantGCSServiceAccount: mint.MinterFunc(func(ctx context.Context, c *connector.Connector, b secret.Bundle) (*mint.Minted, error) {
			e.mints.Add(1)
			if !strings.Contains(b.ClientSecret, saEmail) {
				t.Error("minting without the connector's key")
			}
			return &mint.Minted{Credential: mint.Credential{AccessToken: gcsAccessToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}}, nil
		}),
		connector.GrantAWSIAM: mint.MinterFunc(func(ctx context.Context, c *connector.Connector, b secret.Bundle) (*mint.Minted, error) {
			e.mints.Add(1)
			if c.ClientID != awsKeyID || b.ClientSecret != awsSecret {
				t.Error("minting without the connector's key pair")
			}
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
	gcsURL, s3URL := e.gcs.URL, e.s3.URL
	if o.proxied {
		e.gcsProxy = faulttest.Start(t, strings.TrimPrefix(gcsURL, "http://"))
		e.s3Proxy = faulttest.Start(t, strings.TrimPrefix(s3URL, "http://"))
		gcsURL, s3URL = "http://"+e.gcsProxy.Addr(), "http://"+e.s3Proxy.Addr()
	}
	settings := map[string]string{"CONNECTORS_FILES_DEFAULT_ACCESS": "agent-1=gs://gcs-bucket|s3://s3-bucket"}
	for k, v := range o.env {
		settings[k] = v
	}
	opts, err := files.OptionsFromEnv(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	opts.GCSEndpoint, opts.S3Endpoint, opts.GCSProject = gcsURL, s3URL, "default-project"
	opts.MaxWriteBytes, opts.ReadTimeout = o.maxWrite, o.readTimeout
	srv := &files.Server{Mint: svc, Auth: authn, Log: log, Options: opts}
	var wrap func(http.Handler) http.Handler
	if o.requestTimeout > 0 {
		wrap = func(h http.Handler) http.Handler { return httpx.WithDeadline(h, o.requestTimeout) }
	}
	e.client = functest.Serve(t, wrap, srv.Handlers(), (&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers())
	e.url = e.client.URL
	t.Cleanup(e.checkNoLeaks)
	return e
}

// countingSecrets counts the reads of secret bundles.
type countingSecrets struct {
	secret.Store
	n *atomic.Int32
}

func (s countingSecrets) Get(ctx context.Context, id, version string) (secret.Bundle, error) {
	s.n.Add(1)
	return s.Store.Get(ctx, id, version)
}

// secrets lists every secret value, in the forms a leak could take.
func (e *env) secrets() []string {
	out := append([]string{awsSecret, stsSecret, gcsAccessToken, defaultAWSSec, e.saJSON}, cloudtest.PrivateKeyLines([]byte(e.saJSON))...)
	for _, s := range []string{awsSecret, stsSecret, gcsAccessToken} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s))
	}
	return out
}

func (e *env) checkNoLeaks() {
	bodies := e.client.Bodies()
	logs := e.logs.String()
	for _, s := range e.secrets() {
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret appears in the logs: %.12s…", s)
		}
		if strings.Contains(bodies, s) {
			e.t.Errorf("a secret appears in a response body: %.12s…", s)
		}
	}
}

type response struct {
	code   int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r response) err() map[string]any {
	m, _ := r.json["error"].(map[string]any)
	return m
}

func (e *env) post(fn string, body any, token string) response {
	e.t.Helper()
	resp, out := e.client.Post(fn, body, token)
	r := response{code: resp.StatusCode, header: resp.Header, raw: out}
	_ = json.Unmarshal(out, &r.json)
	return r
}

func (e *env) files(req map[string]any) response {
	e.t.Helper()
	return e.post(files.FnFiles, req, "")
}

func (e *env) create(in map[string]any) {
	e.t.Helper()
	if r := e.post(connectors.FnCreate, in, ""); r.code != 201 {
		e.t.Fatalf("create: %d %s", r.code, r.raw)
	}
}

// connectors makes one connector of each kind: GCS, S3, and an OAuth one.
func (e *env) connectors() {
	e.create(map[string]any{"name": "GCS", "grantType": "gcs_service_account", "clientId": "conn-project", "clientSecret": e.saJSON,
		"serviceAccountEmail": grantEmail, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "GCSNoProject", "grantType": "gcs_service_account", "clientSecret": e.saJSON, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "S3", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "OAuth", "grantType": "client_credentials", "url": "http://127.0.0.1:9/token", "clientId": "c", "clientSecret": "s", "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "Off", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-1"}, "active": false})
}

func op(o, uri string, kv ...any) map[string]any {
	m := map[string]any{"op": o, "uri": uri, "agent": "agent-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
