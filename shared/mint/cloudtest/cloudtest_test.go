package cloudtest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

const saEmail = "localcloud@demo-project.iam.gserviceaccount.com"

// logLines collects what a stand-in logs; handlers log from their own
// goroutines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, msg)
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// last is the last line, which the test waits for: a handler logs after
// writing its response.
func (l *logLines) last(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if lines := l.all(); len(lines) > 0 {
			return lines[len(lines)-1]
		}
	}
	t.Fatal("nothing logged")
	return ""
}

// loopback is the minters' guarded client with loopback allowed, as the
// local run configures it. Its transport records request bodies, so that
// tests can check the stand-ins never log what was sent.
func loopback(sent *[]string, mu *sync.Mutex) *http.Client {
	hc := outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second})
	if sent != nil {
		hc.Transport = &recordBodies{base: hc.Transport, sent: sent, mu: mu}
	}
	return hc
}

type recordBodies struct {
	base http.RoundTripper
	mu   *sync.Mutex
	sent *[]string
}

func (r *recordBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		r.mu.Lock()
		*r.sent = append(*r.sent, string(body))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return r.base.RoundTrip(req)
}

func startSTS(t *testing.T, s *cloudtest.STS) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

func awsConnector(endpoint, keyID string, params map[string]string) *connector.Connector {
	return &connector.Connector{Name: "S3", GrantType: connector.GrantAWSIAM, URL: endpoint, ClientID: keyID, ExtraParams: params, Active: true}
}

// TestSTSMintsWithTheStoredKey drives the STS stand-in with the product's
// aws_iam minter: requests it signs with the stored pair verify and get
// temporary credentials, new ones every call.
func TestSTSMintsWithTheStoredKey(t *testing.T) {
	keyID, secretKey := cloudtest.NewAccessKey()
	var logs logLines
	var sent []string
	var mu sync.Mutex
	endpoint := startSTS(t, &cloudtest.STS{KeyID: keyID, SecretKey: secretKey, Log: logs.add})
	m := &mint.AWS{HTTP: loopback(&sent, &mu)}
	ctx := context.Background()
	bundle := secret.Bundle{ClientSecret: secretKey}

	var issued []*mint.AWSCredentials
	for _, c := range []struct {
		params   map[string]string
		lifetime time.Duration
		log      string
	}{
		{nil, time.Hour, "GetSessionToken signed by " + keyID + ": signature verified (us-east-1/sts); issued ASIA"},
		{nil, time.Hour, "GetSessionToken signed by " + keyID + ": signature verified"},
		{map[string]string{"durationSeconds": "900"}, 15 * time.Minute, "GetSessionToken signed by " + keyID},
		{map[string]string{"roleArn": "arn:aws:iam::123456789012:role/rag/Reader", "durationSeconds": "7200"}, 2 * time.Hour,
			"AssumeRole of arn:aws:iam::123456789012:role/rag/Reader signed by " + keyID + ": signature verified"},
	} {
		got, err := m.Mint(ctx, awsConnector(endpoint, keyID, c.params), bundle)
		if err != nil {
			t.Fatalf("mint %v: %v", c.params, err)
		}
		a := got.Credential.AWS
		if a == nil || !strings.HasPrefix(a.AccessKeyID, "ASIA") || len(a.AccessKeyID) != 20 || a.AccessKeyID == keyID {
			t.Fatalf("not temporary credentials: %+v", got.Credential)
		}
		if a.SecretAccessKey == "" || a.SecretAccessKey == secretKey || a.SessionToken == "" {
			t.Fatalf("temporary credentials incomplete, or the stored key: %+v", a)
		}
		if d := time.Until(a.Expiration); d < c.lifetime-time.Minute || d > c.lifetime+time.Minute {
			t.Fatalf("expires in %s, want about %s", d, c.lifetime)
		}
		for _, prev := range issued {
			if prev.AccessKeyID == a.AccessKeyID || prev.SecretAccessKey == a.SecretAccessKey || prev.SessionToken == a.SessionToken {
				t.Fatal("two calls issued the same credentials")
			}
		}
		issued = append(issued, a)
		if line := logs.last(t); !strings.HasPrefix(line, c.log) || !strings.Contains(line, a.AccessKeyID) {
			t.Fatalf("log line %q, want it to start with %q and name %s", line, c.log, a.AccessKeyID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	forbidden := []string{secretKey, url.QueryEscape(secretKey)}
	for _, a := range issued {
		forbidden = append(forbidden, a.SecretAccessKey, a.SessionToken)
	}
	// Nor does the log quote a request: the form is the minter's business.
	forbidden = append(forbidden, sent...)
	assertAbsent(t, strings.Join(logs.all(), "\n"), forbidden...)
}

func assertAbsent(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(text, s) {
			t.Fatalf("%.12s… appears in %q", s, text)
		}
	}
}

// TestSTSRefuses: the minter's request is refused unless it was signed
// with the stored pair for the expected region, with STS's own codes.
func TestSTSRefuses(t *testing.T) {
	keyID, secretKey := cloudtest.NewAccessKey()
	otherID, otherSecret := cloudtest.NewAccessKey()
	var logs logLines
	endpoint := startSTS(t, &cloudtest.STS{KeyID: keyID, SecretKey: secretKey, Log: logs.add})
	m := &mint.AWS{HTTP: loopback(nil, nil)}
	for _, c := range []struct {
		name, keyID, secret string
		params              map[string]string
		code                string
	}{
		{"wrong secret key", keyID, otherSecret, nil, "SignatureDoesNotMatch"},
		{"unknown key ID", otherID, secretKey, nil, "InvalidClientTokenId"},
		{"signed for another region", keyID, secretKey, map[string]string{"region": "eu-west-1"}, "SignatureDoesNotMatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Mint(context.Background(), awsConnector(endpoint, c.keyID, c.params), secret.Bundle{ClientSecret: c.secret})
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || ue.Status != http.StatusForbidden || ue.Code != c.code || ue.Description == "" {
				t.Fatalf("want STS's 403 %s, got %v", c.code, err)
			}
			line := logs.last(t)
			if !strings.Contains(line, "refused: HTTP 403 "+c.code) || !strings.Contains(line, "signed by "+c.keyID) {
				t.Fatalf("log line %q", line)
			}
			assertAbsent(t, err.Error()+strings.Join(logs.all(), "\n"), secretKey, otherSecret)
		})
	}
}

// signedRequest is an STS request signed with the SDK's signer at signedAt,
// as the SDK's own client would send it.
func signedRequest(t *testing.T, endpoint, keyID, secretKey, region, body string, signedAt time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secretKey},
		req, hex.EncodeToString(sum[:]), "sts", region, signedAt); err != nil {
		t.Fatal(err)
	}
	return req
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestSTSChecksTheWholeRequest sends requests by hand: the signature
// covers the body, it expires, and a verified request still has to be a
// valid call.
func TestSTSChecksTheWholeRequest(t *testing.T) {
	keyID, secretKey := cloudtest.NewAccessKey()
	now := time.Now()
	endpoint := startSTS(t, &cloudtest.STS{KeyID: keyID, SecretKey: secretKey})
	const form = "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"

	tampered := signedRequest(t, endpoint, keyID, secretKey, "us-east-1", form, now)
	tampered.Body = io.NopCloser(strings.NewReader(strings.Replace(form, "900", "3600", 1)))
	tampered.ContentLength = int64(len(form) + 1)

	unsigned, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"signed", signedRequest(t, endpoint, keyID, secretKey, "us-east-1", form, now), 200, "<AccessKeyId>ASIA"},
		{"unsigned", unsigned, 403, "<Code>MissingAuthenticationToken</Code>"},
		{"body changed after signing", tampered, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"signed 20 minutes ago", signedRequest(t, endpoint, keyID, secretKey, "us-east-1", form, now.Add(-20*time.Minute)), 403, "Signature expired"},
		{"duration out of range", signedRequest(t, endpoint, keyID, secretKey, "us-east-1", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=60", now), 400, "<Code>ValidationError</Code>"},
		{"unknown action", signedRequest(t, endpoint, keyID, secretKey, "us-east-1", "Action=GetCallerIdentity&Version=2011-06-15", now), 400, "<Code>InvalidAction</Code>"},
		{"role session name missing", signedRequest(t, endpoint, keyID, secretKey, "us-east-1",
			"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FReader", now), 400, "<Code>ValidationError</Code>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := send(t, c.req)
			if status != c.status || !strings.Contains(body, c.code) {
				t.Fatalf("got %d %s, want %d with %s", status, body, c.status, c.code)
			}
		})
	}
}

// googleServer serves a GoogleToken at /token and makes a service
// account key for it; configure adjusts the handler before it serves.
func googleServer(t *testing.T, configure func(*cloudtest.GoogleToken)) (tokenURI string, keyJSON []byte, logs *logLines) {
	t.Helper()
	logs = &logLines{}
	g := &cloudtest.GoogleToken{ClientEmail: saEmail, Log: logs.add}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tokenURI = srv.URL + "/token"
	keyJSON, pub, err := cloudtest.NewServiceAccountKey(saEmail, "demo-project", tokenURI)
	if err != nil {
		t.Fatal(err)
	}
	g.PublicKey, g.TokenURI, g.KeyID = pub, tokenURI, field(t, keyJSON, "private_key_id")
	if configure != nil {
		configure(g)
	}
	// Registered last: no request reaches g before it is configured.
	mux.Handle("/", g)
	return tokenURI, keyJSON, logs
}

func field(t *testing.T, keyJSON []byte, name string) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(keyJSON, &m); err != nil {
		t.Fatal(err)
	}
	return m[name]
}

func withField(t *testing.T, keyJSON []byte, name, value string) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(keyJSON, &m); err != nil {
		t.Fatal(err)
	}
	m[name] = value
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gcsConnector(scope string) *connector.Connector {
	return &connector.Connector{Name: "Gcs", GrantType: connector.GrantGCSServiceAccount, Scope: scope, Active: true}
}

// TestGoogleTokenMintsWithTheKey drives the token stand-in with the
// product's gcs_service_account minter: the assertion it signs with the
// key verifies, and each exchange gets a new bearer token.
func TestGoogleTokenMintsWithTheKey(t *testing.T) {
	tokenURI, key, logs := googleServer(t, nil)
	var sent []string
	var mu sync.Mutex
	m := &mint.Google{HTTP: loopback(&sent, &mu)}
	var tokens []string
	for _, scope := range []string{"", "https://www.googleapis.com/auth/devstorage.read_write"} {
		got, err := m.Mint(context.Background(), gcsConnector(scope), secret.Bundle{ClientSecret: string(key)})
		if err != nil {
			t.Fatalf("mint: %v", err)
		}
		c := got.Credential
		if !strings.HasPrefix(c.AccessToken, "ya29.local-") || c.TokenType != "Bearer" || c.AWS != nil {
			t.Fatalf("credential %+v", c)
		}
		if d := time.Until(c.Expiry); d < 3599*time.Second-time.Minute || d > 3599*time.Second {
			t.Fatalf("expires in %s", d)
		}
		for _, prev := range tokens {
			if prev == c.AccessToken {
				t.Fatal("two exchanges got the same token")
			}
		}
		tokens = append(tokens, c.AccessToken)
		want := scope
		if want == "" {
			want = mint.DefaultGoogleScope
		}
		line := logs.last(t)
		if !strings.HasPrefix(line, "assertion verified (RS256 by "+saEmail+"'s key, aud "+tokenURI+", scope \""+want+"\"") {
			t.Fatalf("log line %q", line)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 {
		t.Fatalf("%d requests sent", len(sent))
	}
	var forbidden []string
	for _, body := range sent {
		form, err := url.ParseQuery(body)
		if err != nil {
			t.Fatal(err)
		}
		a := form.Get("assertion")
		forbidden = append(forbidden, a)
		forbidden = append(forbidden, strings.Split(a, ".")...)
	}
	forbidden = append(forbidden, tokens...)
	assertAbsent(t, strings.Join(logs.all(), "\n"), forbidden...)
}

// TestGoogleTokenRefuses: an assertion signed by another key, issued by
// another account, meant for another endpoint or lacking the required
// scope is refused with invalid_grant, which the minter reports.
func TestGoogleTokenRefuses(t *testing.T) {
	m := &mint.Google{HTTP: loopback(nil, nil)}
	for _, c := range []struct {
		name      string
		configure func(*cloudtest.GoogleToken)
		key       func(t *testing.T, tokenURI string, key []byte) []byte
		scope     string
		desc      string
	}{
		{name: "a different RSA key", key: func(t *testing.T, tokenURI string, key []byte) []byte {
			other, _, err := cloudtest.NewServiceAccountKey(saEmail, "demo-project", tokenURI)
			if err != nil {
				t.Fatal(err)
			}
			// The same key ID, so that the signature itself is what fails.
			return withField(t, other, "private_key_id", field(t, key, "private_key_id"))
		}, desc: "not signed by the service account's key"},
		{name: "another key ID", key: func(t *testing.T, _ string, key []byte) []byte {
			return withField(t, key, "private_key_id", "0123456789abcdef0123456789abcdef01234567")
		}, desc: "is not the service account's key"},
		{name: "another service account", key: func(t *testing.T, _ string, key []byte) []byte {
			return withField(t, key, "client_email", "intruder@demo-project.iam.gserviceaccount.com")
		}, desc: "iss intruder@demo-project.iam.gserviceaccount.com is not " + saEmail},
		{name: "meant for another endpoint", configure: func(g *cloudtest.GoogleToken) {
			g.TokenURI = "http://127.0.0.1:1/token"
		}, desc: "is not this token endpoint"},
		{name: "without the required scope", configure: func(g *cloudtest.GoogleToken) {
			g.RequiredScope = "https://www.googleapis.com/auth/devstorage.read_only"
		}, desc: "does not include https://www.googleapis.com/auth/devstorage.read_only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tokenURI, key, logs := googleServer(t, c.configure)
			if c.key != nil {
				key = c.key(t, tokenURI, key)
			}
			_, err := m.Mint(context.Background(), gcsConnector(c.scope), secret.Bundle{ClientSecret: string(key)})
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || ue.Status != http.StatusBadRequest || ue.Code != "invalid_grant" || !strings.Contains(ue.Description, c.desc) {
				t.Fatalf("want 400 invalid_grant saying %q, got %v", c.desc, err)
			}
			if line := logs.last(t); !strings.Contains(line, "refused (HTTP 400 invalid_grant)") || !strings.Contains(line, c.desc) {
				t.Fatalf("log line %q", line)
			}
		})
	}
	t.Run("with the required scope", func(t *testing.T) {
		_, key, _ := googleServer(t, func(g *cloudtest.GoogleToken) {
			g.RequiredScope = "https://www.googleapis.com/auth/devstorage.read_only"
		})
		if _, err := m.Mint(context.Background(), gcsConnector("https://www.googleapis.com/auth/devstorage.read_only"), secret.Bundle{ClientSecret: string(key)}); err != nil {
			t.Fatal(err)
		}
	})
}

// assertion signs claims with the key as the minter would, so that the
// time checks can be driven directly.
func assertion(t *testing.T, keyJSON []byte, header, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode([]byte(field(t, keyJSON, "private_key")))
	if block == nil {
		t.Fatal("no PEM block in the key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	seg := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	signing := seg(header) + "." + seg(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestGoogleTokenChecksTheAssertion sends token requests by hand.
func TestGoogleTokenChecksTheAssertion(t *testing.T) {
	tokenURI, key, _ := googleServer(t, nil)
	now := time.Now().Unix()
	header := map[string]any{"alg": "RS256", "typ": "JWT", "kid": field(t, key, "private_key_id")}
	claims := func(iat, exp int64, scope string) map[string]any {
		return map[string]any{"iss": saEmail, "aud": tokenURI, "scope": scope, "iat": iat, "exp": exp}
	}
	post := func(form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(tokenURI, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	grant := func(a string) url.Values {
		return url.Values{"grant_type": {cloudtest.JWTBearerGrant}, "assertion": {a}}
	}
	good := assertion(t, key, header, claims(now, now+3600, "https://www.googleapis.com/auth/cloud-platform"))
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		code   string
		desc   string
	}{
		{"valid", grant(good), 200, "", ""},
		{"another grant type", url.Values{"grant_type": {"client_credentials"}, "assertion": {good}}, 400, "unsupported_grant_type", "client_credentials"},
		{"no assertion", url.Values{"grant_type": {cloudtest.JWTBearerGrant}}, 400, "invalid_request", "assertion"},
		{"not a JWT", grant("garbage"), 400, "invalid_grant", "not a compact JWS"},
		{"alg none", grant(strings.Join(strings.Split(assertion(t, key, map[string]any{"alg": "none"}, claims(now, now+3600, "s")), ".")[:2], ".") + "."),
			400, "invalid_grant", "alg none"},
		{"expired", grant(assertion(t, key, header, claims(now-7200, now-3600, "s"))), 400, "invalid_grant", "reasonable timeframe"},
		{"issued in the future", grant(assertion(t, key, header, claims(now+3600, now+7200, "s"))), 400, "invalid_grant", "in the future"},
		{"lives too long", grant(assertion(t, key, header, claims(now, now+7200, "s"))), 400, "invalid_grant", "exp - iat"},
		{"no scope", grant(assertion(t, key, header, claims(now, now+3600, ""))), 400, "invalid_grant", "no scope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out := post(c.form)
			if status != c.status {
				t.Fatalf("status %d %v, want %d", status, out, c.status)
			}
			if c.status == 200 {
				if tok, _ := out["access_token"].(string); !strings.HasPrefix(tok, "ya29.local-") || out["token_type"] != "Bearer" || out["expires_in"] != 3599.0 {
					t.Fatalf("answer %v", out)
				}
				return
			}
			desc, _ := out["error_description"].(string)
			if out["error"] != c.code || !strings.Contains(desc, c.desc) {
				t.Fatalf("answer %v, want %s saying %q", out, c.code, c.desc)
			}
			if strings.Contains(desc, good[:20]) {
				t.Fatalf("the answer quotes the assertion: %q", desc)
			}
		})
	}
}

// TestNewServiceAccountKey: the key has the console's fields, its private
// half matches pub, and the product accepts it (and an access key pair) as
// connector secrets.
func TestNewServiceAccountKey(t *testing.T) {
	const tokenURI = "http://127.0.0.1:4444/token"
	keyJSON, pub, err := cloudtest.NewServiceAccountKey(saEmail, "demo-project", tokenURI)
	if err != nil {
		t.Fatal(err)
	}
	var k map[string]string
	if err := json.Unmarshal(keyJSON, &k); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"type": "service_account", "project_id": "demo-project", "client_email": saEmail, "token_uri": tokenURI}
	for name, v := range want {
		if k[name] != v {
			t.Fatalf("%s = %q, want %q", name, k[name], v)
		}
	}
	if len(k["private_key_id"]) != 40 || len(k["client_id"]) != 21 || len(k) != 7 {
		t.Fatalf("key %v", k)
	}
	block, _ := pem.Decode([]byte(k["private_key"]))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("private_key is not a PKCS#8 PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 || !rk.PublicKey.Equal(pub) {
		t.Fatal("private_key is not the RSA-2048 key whose public half was returned")
	}
	other, _, err := cloudtest.NewServiceAccountKey(saEmail, "demo-project", tokenURI)
	if err != nil || field(t, other, "private_key") == k["private_key"] || field(t, other, "private_key_id") == k["private_key_id"] {
		t.Fatalf("two keys are not distinct (%v)", err)
	}

	keyID, secretKey := cloudtest.NewAccessKey()
	opts := connector.Options{AllowInsecureURLs: true}
	gcs := &connector.Connector{Name: "Gcs", GrantType: connector.GrantGCSServiceAccount, Agents: []string{"demo"}, HasClientSecret: true, Active: true, ContentType: "application/x-www-form-urlencoded"}
	if err := connector.Validate(gcs, &secret.Bundle{ClientSecret: string(keyJSON)}, opts); err != nil {
		t.Fatalf("the product refuses the key: %v", err)
	}
	s3 := &connector.Connector{Name: "S3", GrantType: connector.GrantAWSIAM, URL: "http://127.0.0.1:4445", ClientID: keyID,
		Agents: []string{"demo"}, HasClientSecret: true, Active: true, ContentType: "application/x-www-form-urlencoded"}
	if err := connector.Validate(s3, &secret.Bundle{ClientSecret: secretKey}, opts); err != nil {
		t.Fatalf("the product refuses the key pair: %v", err)
	}
	if !strings.HasPrefix(keyID, "AKIA") || len(keyID) != 20 || len(secretKey) != 40 {
		t.Fatalf("key pair %s / %d characters", keyID, len(secretKey))
	}
	if _, _, err := cloudtest.NewServiceAccountKey("not-an-email", "p", tokenURI); err == nil {
		t.Fatal("a key without an email")
	}
}
