package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
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

	mu     sync.Mutex
	bodies []string
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
	svc := mint.NewService(cat, b.Cache, true, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: time.Second, TokenTimeout: time.Second})
	// Stand-ins for Google's token endpoint and STS: the credentials they
	// return are what the storage servers must then see.
	svc.Special = map[string]mint.Minter{
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
	mux := http.NewServeMux()
	for _, hs := range []map[string]http.HandlerFunc{srv.Handlers(), (&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers()} {
		for name, h := range hs {
			if o.requestTimeout > 0 {
				h = httpx.WithDeadline(h, o.requestTimeout)
			}
			mux.HandleFunc("/"+name, h)
		}
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	e.url = ts.URL
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
	e.mu.Lock()
	bodies := strings.Join(e.bodies, "\n")
	e.mu.Unlock()
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
	raw, ok := body.([]byte)
	if !ok {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/"+fn, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	e.mu.Lock()
	e.bodies = append(e.bodies, string(out))
	e.mu.Unlock()
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

// TestRoundTrip: write, read, list, delete through the function, for both
// providers, with a connector's credentials and with the defaults.
func TestRoundTrip(t *testing.T) {
	for _, kind := range testenv.Kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, envOptions{})
			e.connectors()
			for _, c := range []struct{ name, base, conn string }{
				{"gcs/connector", "gs://gcs-bucket", "GCS"},
				{"gcs/default", "gs://gcs-bucket", ""},
				{"s3/connector", "s3://s3-bucket", "S3"},
				{"s3/default", "s3://s3-bucket", ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					roundTrip(t, e, c.base+"/"+strings.ReplaceAll(c.name, "/", "-"), c.conn)
				})
			}
			// The connector paths used minted credentials, and only them;
			// the defaults used the deployment's.
			if auths := e.gcs.Authorizations(); !slices.Contains(auths, "Bearer "+gcsAccessToken) || !slices.Contains(auths, "") {
				t.Errorf("GCS saw %q", slices.Compact(auths))
			}
			keys := slices.Compact(slices.Sorted(slices.Values(e.s3.AccessKeys())))
			if !slices.Equal(keys, []string{defaultAWSKeyID, stsKeyID}) {
				t.Errorf("S3 requests were signed with %q; want the STS key and the default chain's", keys)
			}
			if n := e.mints.Load(); n != 2 {
				t.Errorf("minted %d times, want once per connector (then cached)", n)
			}
		})
	}
}

func roundTrip(t *testing.T, e *env, prefix, conn string) {
	with := func(m map[string]any) map[string]any {
		if conn != "" {
			m["connector"] = conn
		}
		return m
	}
	obj := prefix + "/notes/hello.txt"
	r := e.files(with(op("write", obj, "data", b64("hello, files"), "contentType", "text/plain")))
	if r.code != 200 || r.json["uri"] != obj || r.json["size"] != 12.0 || r.json["contentType"] != "text/plain" || r.json["updated"] == "" {
		t.Fatalf("write: %d %s", r.code, r.raw)
	}
	e.files(with(op("write", prefix+"/notes/other.bin", "data", b64("\x00\x01\x02"))))
	e.files(with(op("write", prefix+"/elsewhere", "data", b64("x"))))

	r = e.files(with(op("read", obj)))
	if r.code != 200 || string(r.raw) != "hello, files" || r.header.Get("Content-Type") != "text/plain" ||
		r.header.Get("Content-Length") != "12" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Last-Modified") == "" {
		t.Fatalf("read: %d %v %q", r.code, r.header, r.raw)
	}

	r = e.files(with(op("list", prefix+"/notes/")))
	objs, _ := r.json["objects"].([]any)
	if r.code != 200 || len(objs) != 2 || r.json["nextPageToken"] != "" {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
	first := objs[0].(map[string]any)
	if first["uri"] != obj || first["size"] != 12.0 || first["updated"] == nil {
		t.Fatalf("list entry %v", first)
	}
	if ct, ok := first["contentType"]; ok && ct != "text/plain" {
		t.Fatalf("list content type %v", ct)
	}
	// Paging through the function.
	r = e.files(with(op("list", prefix+"/", "pageSize", 2)))
	token, _ := r.json["nextPageToken"].(string)
	if objs, _ := r.json["objects"].([]any); r.code != 200 || len(objs) != 2 || token == "" {
		t.Fatalf("page 1: %d %s", r.code, r.raw)
	}
	r = e.files(with(op("list", prefix+"/", "pageSize", 2, "pageToken", token)))
	if objs, _ := r.json["objects"].([]any); r.code != 200 || len(objs) != 1 || r.json["nextPageToken"] != "" {
		t.Fatalf("page 2: %d %s", r.code, r.raw)
	}

	if r = e.files(with(op("delete", obj))); r.code != 200 || r.json["deleted"] != obj {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	r = e.files(with(op("read", obj)))
	if r.code != 404 || r.err()["code"] != "not_found" || !strings.Contains(r.err()["message"].(string), obj) {
		t.Fatalf("read after delete: %d %s", r.code, r.raw)
	}
	if r = e.files(with(op("delete", obj))); r.code != 404 || !strings.Contains(r.err()["message"].(string), obj) {
		t.Fatalf("delete again: %d %s", r.code, r.raw)
	}
}

func TestSign(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	e.files(op("write", "gs://gcs-bucket/s/a.txt", "data", b64("signed gcs"), "connector", "GCS"))
	e.files(op("write", "s3://s3-bucket/s/a.txt", "data", b64("signed s3"), "connector", "S3"))

	// GCS: signed with the connector's key, verifiable with its public half.
	r := e.files(op("sign", "gs://gcs-bucket/s/a.txt", "connector", "GCS", "expiresIn", 600))
	signed, _ := r.json["url"].(string)
	if r.code != 200 || r.json["method"] != "GET" || r.json["expiresAt"] == "" {
		t.Fatalf("sign: %d %s", r.code, r.raw)
	}
	q := mustQuery(t, signed)
	if !strings.HasPrefix(q.Get("X-Goog-Credential"), saEmail+"/") || q.Get("X-Goog-Expires") != "600" || q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		t.Fatalf("signed URL %s", signed)
	}
	if err := objectservers.VerifyGCSSignedURL(signed, "GET", "", e.saKey); err != nil {
		t.Fatal(err)
	}
	if code, body := fetch(t, "GET", signed, "", ""); code != 200 || body != "signed gcs" {
		t.Fatalf("GET %d %q", code, body)
	}
	// The key is read once per secret version, as minting reads it.
	reads := e.secretReads.Load()
	for range 3 {
		if r := e.files(op("sign", "gs://gcs-bucket/s/a.txt", "connector", "GCS")); r.code != 200 {
			t.Fatalf("sign: %d %s", r.code, r.raw)
		}
	}
	if n := e.secretReads.Load() - reads; n != 0 {
		t.Fatalf("3 more signs read the secret store %d times, want 0 (cached per version)", n)
	}
	r = e.files(op("sign", "gs://gcs-bucket/s/up.json", "connector", "GCS", "method", "PUT", "contentType", "application/json"))
	signed, _ = r.json["url"].(string)
	if r.code != 200 || r.json["headers"].(map[string]any)["Content-Type"] != "application/json" {
		t.Fatalf("sign PUT: %d %s", r.code, r.raw)
	}
	if err := objectservers.VerifyGCSSignedURL(signed, "PUT", "application/json", e.saKey); err != nil {
		t.Fatal(err)
	}
	if code, _ := fetch(t, "PUT", signed, "application/json", `{"up":1}`); code != 200 {
		t.Fatalf("PUT %d", code)
	}
	if r = e.files(op("read", "gs://gcs-bucket/s/up.json")); string(r.raw) != `{"up":1}` {
		t.Fatalf("uploaded %q", r.raw)
	}

	// S3: presigned with the temporary credentials, never the key pair.
	r = e.files(op("sign", "s3://s3-bucket/s/a.txt", "connector", "S3"))
	signed, _ = r.json["url"].(string)
	q = mustQuery(t, signed)
	if r.code != 200 || !strings.HasPrefix(q.Get("X-Amz-Credential"), stsKeyID+"/") || q.Get("X-Amz-Security-Token") != stsSession ||
		q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" {
		t.Fatalf("presigned %d %s", r.code, signed)
	}
	if code, body := fetch(t, "GET", signed, "", ""); code != 200 || body != "signed s3" {
		t.Fatalf("GET %d %q", code, body)
	}

	// The deployment's default GCS credentials here (none: an emulator)
	// have no identity to sign as.
	r = e.files(op("sign", "gs://gcs-bucket/s/a.txt"))
	if r.code != 409 || r.err()["code"] != "failed_precondition" {
		t.Fatalf("default sign: %d %s", r.code, r.raw)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return u.Query()
}

func fetch(t *testing.T, method, rawURL, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func TestBucketsAndGrants(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	if r := e.files(op("createBucket", "gs://made-by-agent", "connector", "GCS", "location", "EU")); r.code != 201 || r.json["created"] != "gs://made-by-agent" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := e.files(op("createBucket", "gs://made-by-agent", "connector", "GCS")); r.code != 409 || r.err()["code"] != "already_exists" {
		t.Fatalf("create again: %d %s", r.code, r.raw)
	}
	// The project comes from the key when the connector names none.
	if r := e.files(op("createBucket", "gs://made-by-key-project", "connector", "GCSNoProject")); r.code != 201 {
		t.Fatalf("create with the key's project: %d %s", r.code, r.raw)
	}
	if r := e.files(op("write", "gs://made-by-agent/x", "data", b64("in new bucket"), "connector", "GCS")); r.code != 200 {
		t.Fatalf("write to new bucket: %d %s", r.code, r.raw)
	}

	// Default member: the connector's serviceAccountEmail; default role.
	r := e.files(op("grantAccess", "gs://made-by-agent", "connector", "GCS"))
	if r.code != 200 || r.json["member"] != "serviceAccount:"+grantEmail || r.json["role"] != files.DefaultGrantRole {
		t.Fatalf("grant: %d %s", r.code, r.raw)
	}
	// Named: the same account (any case of its email, granted as the
	// connector spells it) and another object role.
	r = e.files(op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "serviceAccount:"+strings.ToUpper(grantEmail), "role", "roles/storage.objectCreator"))
	if r.code != 200 || r.json["member"] != "serviceAccount:"+grantEmail {
		t.Fatalf("grant named: %d %s", r.code, r.raw)
	}
	if got := e.gcs.Members("made-by-agent", "roles/storage.objectViewer"); !slices.Equal(got, []string{"serviceAccount:" + grantEmail}) {
		t.Fatalf("objectViewer members %q", got)
	}
	if got := e.gcs.Members("made-by-agent", "roles/storage.objectCreator"); !slices.Equal(got, []string{"serviceAccount:" + grantEmail}) {
		t.Fatalf("objectCreator members %q", got)
	}
	for _, c := range []struct {
		req   map[string]any
		code  int
		field string
	}{
		{op("grantAccess", "gs://made-by-agent", "connector", "GCSNoProject"), 400, "member"}, // no serviceAccountEmail
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "allUsers"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "allAuthenticatedUsers"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "someone@example.com"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "role", "roles/owner"), 400, "role"},
		{op("grantAccess", "gs://no-such-bucket", "connector", "GCS"), 404, ""},
		{op("grantAccess", "gs://gcs-bucket"), 403, ""}, // never with the default identity
		{op("grantAccess", "s3://s3-bucket", "connector", "S3"), 400, "op"},
		{op("grantAccess", "gs://made-by-agent/key"), 400, "uri"},
	} {
		if r := e.files(c.req); r.code != c.code || (c.field != "" && r.err()["field"] != c.field) {
			t.Errorf("%v: %d %s", c.req, r.code, r.raw)
		}
	}

	if r := e.files(op("createBucket", "s3://made-by-agent", "connector", "S3", "location", "eu-west-1")); r.code != 201 {
		t.Fatalf("create s3: %d %s", r.code, r.raw)
	}
	if r := e.files(op("createBucket", "s3://made-by-agent", "connector", "S3")); r.code != 409 || !strings.Contains(r.err()["message"].(string), "s3://made-by-agent") {
		t.Fatalf("create s3 again: %d %s", r.code, r.raw)
	}
	if r := e.files(op("write", "s3://made-by-agent/x", "data", b64("y"), "connector", "S3")); r.code != 200 {
		t.Fatalf("write to new s3 bucket: %d %s", r.code, r.raw)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	cases := []struct {
		name  string
		req   any
		code  int
		ecode string
		field string
	}{
		{"no op", map[string]any{"uri": "gs://gcs-bucket/k", "agent": "agent-1"}, 400, "invalid_argument", "op"},
		{"unknown op", op("copy", "gs://gcs-bucket/k"), 400, "invalid_argument", "op"},
		{"no uri", map[string]any{"op": "read", "agent": "agent-1"}, 400, "invalid_argument", "uri"},
		{"http uri", op("read", "https://storage.googleapis.com/b/k"), 400, "invalid_argument", "uri"},
		{"uppercase bucket", op("read", "gs://Bucket/k"), 400, "invalid_argument", "uri"},
		{"s3 underscore", op("read", "s3://my_bucket/k"), 400, "invalid_argument", "uri"},
		{"dot-dot key", op("read", "gs://gcs-bucket/a/../b"), 400, "invalid_argument", "uri"},
		{"read a bucket", op("read", "gs://gcs-bucket"), 400, "invalid_argument", "uri"},
		{"create with key", op("createBucket", "gs://gcs-bucket/k"), 400, "invalid_argument", "uri"},
		{"no agent", map[string]any{"op": "read", "uri": "gs://gcs-bucket/k"}, 400, "invalid_argument", "agent"},
		{"bad connector name", op("read", "gs://gcs-bucket/k", "connector", "no spaces"), 400, "invalid_argument", "connector"},
		{"gs with aws connector", op("read", "gs://gcs-bucket/k", "connector", "S3"), 400, "invalid_argument", "connector"},
		{"s3 with gcs connector", op("read", "s3://s3-bucket/k", "connector", "GCS"), 400, "invalid_argument", "connector"},
		{"gs with oauth connector", op("list", "gs://gcs-bucket", "connector", "OAuth"), 400, "invalid_argument", "connector"},
		{"unknown connector", op("read", "gs://gcs-bucket/k", "connector", "Nope"), 404, "not_found", ""},
		{"agent not allowed", map[string]any{"op": "read", "uri": "gs://gcs-bucket/k", "agent": "intruder", "connector": "GCS"}, 403, "permission_denied", "agent"},
		{"inactive connector", op("read", "s3://s3-bucket/k", "connector", "Off"), 409, "failed_precondition", ""},
		{"field of another op", op("read", "gs://gcs-bucket/k", "pageSize", 3), 400, "invalid_argument", "pageSize"},
		{"data on list", op("list", "gs://gcs-bucket", "data", b64("x")), 400, "invalid_argument", "data"},
		{"unknown field", op("read", "gs://gcs-bucket/k", "colour", "red"), 400, "invalid_argument", "colour"},
		{"write without data", op("write", "gs://gcs-bucket/k"), 400, "invalid_argument", "data"},
		{"data not base64", op("write", "gs://gcs-bucket/k", "data", "not base64!"), 400, "invalid_argument", "data"},
		{"data not a string", op("write", "gs://gcs-bucket/k", "data", 12), 400, "invalid_argument", "data"},
		{"bad content type", op("write", "gs://gcs-bucket/k", "data", b64("x"), "contentType", "text/"), 400, "invalid_argument", "contentType"},
		{"page size", op("list", "gs://gcs-bucket", "pageSize", 5000), 400, "invalid_argument", "pageSize"},
		{"sign method", op("sign", "gs://gcs-bucket/k", "method", "DELETE"), 400, "invalid_argument", "method"},
		{"sign expiry zero", op("sign", "gs://gcs-bucket/k", "expiresIn", 0), 400, "invalid_argument", "expiresIn"},
		{"sign expiry long", op("sign", "gs://gcs-bucket/k", "expiresIn", 604801), 400, "invalid_argument", "expiresIn"},
		{"sign GET content type", op("sign", "gs://gcs-bucket/k", "contentType", "text/plain"), 400, "invalid_argument", "contentType"},
		{"bad location", op("createBucket", "gs://new-bucket", "location", "eu west"), 400, "invalid_argument", "location"},
		{"not json", []byte(`{"op":`), 400, "invalid_argument", ""},
		{"missing object", op("read", "gs://gcs-bucket/nothing/here", "connector", "GCS"), 404, "not_found", ""},
		{"missing bucket", op("list", "s3://no-such-bucket", "connector", "S3"), 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(files.FnFiles, c.req, "")
			if r.code != c.code || r.err()["code"] != c.ecode || (c.field != "" && r.err()["field"] != c.field) {
				t.Fatalf("got %d %s; want %d %s field %q", r.code, r.raw, c.code, c.ecode, c.field)
			}
		})
	}
	// Not-found errors name the URI asked for.
	r := e.files(op("read", "gs://gcs-bucket/nothing/here", "connector", "GCS"))
	if msg, _ := r.err()["message"].(string); !strings.Contains(msg, "gs://gcs-bucket/nothing/here") {
		t.Fatalf("message %q", msg)
	}
	resp, err := http.Get(e.url + "/files")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// TestWriteCap: data over the configured cap gets 413, and so does a body
// too large to hold it; the cap does not apply to the other functions.
func TestWriteCap(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{maxWrite: 1000})
	if r := e.files(op("write", "s3://s3-bucket/fits", "data", b64(strings.Repeat("a", 1000)))); r.code != 200 {
		t.Fatalf("at the cap: %d %s\n%s", r.code, r.raw, e.logs.String())
	}
	r := e.files(op("write", "s3://s3-bucket/over", "data", b64(strings.Repeat("a", 1001))))
	if r.code != 413 || r.err()["code"] != "payload_too_large" || !strings.Contains(r.err()["message"].(string), "1000 bytes") {
		t.Fatalf("over the cap: %d %s", r.code, r.raw)
	}
	r = e.files(op("write", "s3://s3-bucket/way-over", "data", b64(strings.Repeat("a", 200<<10))))
	if r.code != 413 || r.err()["code"] != "payload_too_large" {
		t.Fatalf("over the request limit: %d %s", r.code, r.raw)
	}
	if r := e.files(op("read", "s3://s3-bucket/over")); r.code != 404 {
		t.Fatalf("a refused write left an object: %d", r.code)
	}
}

// TestDefaultCapFitsLargeWrites: the default cap takes a multi-megabyte
// write, well past the JSON limit of the other functions, and the read
// streams it back with its length.
func TestDefaultCapFitsLargeWrites(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	data := make([]byte, 3<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	r := e.files(op("write", "gs://gcs-bucket/big.bin", "data", base64.StdEncoding.EncodeToString(data)))
	if r.code != 200 || r.json["size"] != float64(len(data)) {
		t.Fatalf("write: %d %.200s", r.code, r.raw)
	}
	r = e.files(op("read", "gs://gcs-bucket/big.bin"))
	if r.code != 200 || !bytes.Equal(r.raw, data) || r.header.Get("Content-Length") != strconv.Itoa(len(data)) || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("read: %d %v (%d bytes)", r.code, r.header, len(r.raw))
	}
	// JSON escapes in the data ("\/" from some encoders) are understood.
	escaped := []byte(`{"op":"write","uri":"gs://gcs-bucket/esc","agent":"agent-1","data":"` + strings.ReplaceAll(b64("\xff\xfe\xfd?>"), "/", `\/`) + `"}`)
	if r := e.post(files.FnFiles, escaped, ""); r.code != 200 {
		t.Fatalf("escaped: %d %s", r.code, r.raw)
	}
	if r := e.files(op("read", "gs://gcs-bucket/esc")); string(r.raw) != "\xff\xfe\xfd?>" {
		t.Fatalf("escaped read %q", r.raw)
	}
}

// TestAgentBindings: a runtime may use files only for its own agents, as
// with token.
func TestAgentBindings(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const aud = "https://files.example.run.app"
	const runtimeA, admin = "a@p.iam.gserviceaccount.com", "admin@example.com"
	authn, err := auth.New(auth.Config{Audience: aud, Admins: []string{admin}, AgentBindings: map[string][]string{"agent-1": {runtimeA}, "agent-2": {"b@p.iam.gserviceaccount.com"}}}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, testenv.Embedded, envOptions{authn: authn})
	tokA := iss.Token(t, runtimeA, aud)
	if r := e.post(files.FnFiles, op("write", "s3://s3-bucket/k", "data", b64("v")), tokA); r.code != 200 {
		t.Fatalf("own agent: %d %s", r.code, r.raw)
	}
	req := op("read", "s3://s3-bucket/k")
	req["agent"] = "agent-2"
	if r := e.post(files.FnFiles, req, tokA); r.code != 403 || r.err()["code"] != "permission_denied" {
		t.Fatalf("another runtime's agent: %d %s", r.code, r.raw)
	}
	if r := e.post(files.FnFiles, op("read", "s3://s3-bucket/k"), iss.Token(t, admin, aud)); r.code != 403 {
		t.Fatalf("admin: %d %s", r.code, r.raw)
	}
	if r := e.post(files.FnFiles, op("read", "s3://s3-bucket/k"), ""); r.code != 401 {
		t.Fatalf("anonymous: %d %s", r.code, r.raw)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"CONNECTORS_GCS_ENDPOINT":          "http://127.0.0.1:4443",
		"CONNECTORS_S3_ENDPOINT":           "http://127.0.0.1:9000",
		"AWS_REGION":                       "eu-west-1",
		"GOOGLE_CLOUD_PROJECT":             "p1",
		"CONNECTORS_FILES_MAX_WRITE_BYTES": "1048576",
		"CONNECTORS_FILES_READ_TIMEOUT":    "90s",
	}
	o, err := files.OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil || o.GCSEndpoint != "http://127.0.0.1:4443" || o.S3Endpoint != "http://127.0.0.1:9000" || o.S3Region != "eu-west-1" || o.GCSProject != "p1" || o.MaxWriteBytes != 1<<20 || o.ReadTimeout != 90*time.Second {
		t.Fatalf("%+v %v", o, err)
	}
	env["CONNECTORS_S3_REGION"] = "ap-south-1"
	if o, _ := files.OptionsFromEnv(func(k string) string { return env[k] }); o.S3Region != "ap-south-1" {
		t.Fatalf("CONNECTORS_S3_REGION does not win: %q", o.S3Region)
	}
	for k, v := range map[string]string{
		"CONNECTORS_GCS_ENDPOINT":          "127.0.0.1:4443",
		"CONNECTORS_S3_ENDPOINT":           "ftp://x",
		"CONNECTORS_FILES_MAX_WRITE_BYTES": "lots",
		"CONNECTORS_FILES_READ_TIMEOUT":    "-1s",
		// Less than one largest write's request: no write could ever run.
		"CONNECTORS_FILES_WRITE_BUFFER_BYTES": "1048576",
	} {
		bad := map[string]string{k: v}
		if _, err := files.OptionsFromEnv(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

// TestReadOutlastsRequestDeadline: the request deadline bounds reaching the
// storage service, not streaming the body. A large object read by a slow
// client takes several request deadlines and arrives whole; a stalled
// storage service still ends as 503 unavailable within one.
func TestReadOutlastsRequestDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	e := newEnv(t, testenv.Embedded, envOptions{requestTimeout: deadline, proxied: true})
	e.connectors()
	// More than the loopback socket buffers hold, so the server cannot
	// finish writing before the slow client has read most of it.
	data := make([]byte, 32<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	e.gcs.Put(t, "gcs-bucket", "big.bin", "application/octet-stream", data)
	e.s3.Put(t, "s3-bucket", "big.bin", "application/octet-stream", data)

	for _, c := range []struct{ uri, conn string }{
		{"gs://gcs-bucket/big.bin", "GCS"},
		{"s3://s3-bucket/big.bin", "S3"},
	} {
		t.Run(c.uri, func(t *testing.T) {
			resp := e.postStream(files.FnFiles, op("read", c.uri, "connector", c.conn))
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("read: %d", resp.StatusCode)
			}
			start := time.Now()
			got, err := slowRead(resp.Body, 1<<20, 40*time.Millisecond)
			took := time.Since(start)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d of %d bytes in %v: %v", len(got), len(data), took, err)
			}
			if took < 2*deadline {
				t.Fatalf("the slow read took %v: it did not outlast the request deadline, so it tests nothing", took)
			}
		})
	}

	t.Run("stalled", func(t *testing.T) {
		e.gcsProxy.Stall()
		start := time.Now()
		r := e.files(op("read", "gs://gcs-bucket/big.bin", "connector", "GCS"))
		took := time.Since(start)
		e.gcsProxy.Restore()
		if r.code != 503 || r.err()["code"] != "unavailable" || took > deadline+2*time.Second {
			t.Fatalf("read from a stalled service: %d %s after %v; want 503 unavailable at the deadline", r.code, r.raw, took)
		}
	})
}

// TestReadTimeout: the read timeout cuts a body streaming too long, and the
// connection is dropped so the client cannot take the short body as whole.
func TestReadTimeout(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{requestTimeout: time.Minute, readTimeout: 300 * time.Millisecond})
	data := make([]byte, 32<<20)
	e.gcs.Put(t, "gcs-bucket", "big.bin", "application/octet-stream", data)
	resp := e.postStream(files.FnFiles, op("read", "gs://gcs-bucket/big.bin"))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("read: %d", resp.StatusCode)
	}
	got, err := slowRead(resp.Body, 1<<20, 40*time.Millisecond)
	if err == nil || len(got) >= len(data) {
		t.Fatalf("read %d of %d bytes, error %v: the read timeout did not cut the body", len(got), len(data), err)
	}
}

// postStream posts to fn and returns the response unread.
func (e *env) postStream(fn string, body any) *http.Response {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(e.url+"/"+fn, "application/json", bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// slowRead reads r a chunk at a time, pausing between chunks; a nil error
// means r ended cleanly.
func slowRead(r io.Reader, chunk int, pause time.Duration) ([]byte, error) {
	var out bytes.Buffer
	for {
		n, err := out.ReadFrom(io.LimitReader(r, int64(chunk)))
		if err != nil || n == 0 {
			return out.Bytes(), err
		}
		time.Sleep(pause)
	}
}
