package token_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/testenv"
)

const (
	storedKeyID  = "AKIAIOSFODNN7EXAMPLE"
	storedSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// newSTS is an STS endpoint on loopback that accepts only requests signed
// (SigV4, us-east-1) with the stored key pair, and answers GetSessionToken
// with temporary credentials.
func newSTS(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !validSigV4(r, body) {
			w.WriteHeader(403)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>signature mismatch</Message></Error></ErrorResponse>`)
			return
		}
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") != "GetSessionToken" {
			w.WriteHeader(400)
			fmt.Fprint(w, `<ErrorResponse><Error><Code>InvalidAction</Code><Message>unexpected action</Message></Error></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult><Credentials>
<AccessKeyId>ASIATEMPORARYKEY0001</AccessKeyId><SecretAccessKey>temporary-secret-key</SecretAccessKey>
<SessionToken>FwoGZXIvYXdzEXAMPLEsession</SessionToken><Expiration>%s</Expiration>
</Credentials></GetSessionTokenResult></GetSessionTokenResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// validSigV4 re-signs a copy of r with the stored key and compares the
// Authorization headers.
func validSigV4(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+storedKeyID+"/") {
		return false
	}
	signed, _, _ := strings.Cut(rest, ",")
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	cp.Host, cp.ContentLength = r.Host, r.ContentLength
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header[http.CanonicalHeaderKey(h)]
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: storedKeyID, SecretAccessKey: storedSecret},
		cp, hex.EncodeToString(sum[:]), "sts", "us-east-1", at)
	return err == nil && cp.Header.Get("Authorization") == auth
}

// newGoogleToken is a Google token endpoint on loopback for the JWT bearer
// grant, and a service-account key whose token_uri points at it.
func newGoogleToken(t *testing.T) (key string, calls *atomic.Int32) {
	calls = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || strings.Count(r.PostForm.Get("assertion"), ".") != 2 {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"ya29.cloud-test-token","expires_in":3599,"token_type":"Bearer"}`)
	}))
	t.Cleanup(srv.Close)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	data, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "demo-project",
		"private_key_id": "key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "rag@demo-project.iam.gserviceaccount.com",
		"token_uri":      srv.URL + "/token",
	})
	return string(data), calls
}

func TestTokenCloudConnectors(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	sts, stsCalls := newSTS(t)
	saKey, googleCalls := newGoogleToken(t)
	e := newEnv(t, b, nil, 2*time.Second)
	e.create(map[string]any{"name": "S3", "url": sts.URL, "grantType": "aws_iam", "clientId": storedKeyID, "clientSecret": storedSecret, "agents": []string{"agent-1"}})
	e.create(map[string]any{"name": "Gcs", "grantType": "gcs_service_account", "clientSecret": saKey, "agents": []string{"agent-1"}})
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), storedSecret) || strings.Contains(e.logs.String(), "PRIVATE KEY") {
			t.Error("a long-lived secret appears in the logs")
		}
	})

	t.Run("aws_iam", func(t *testing.T) {
		code, out := e.call(token.FnToken, map[string]any{"connector": "S3", "agent": "agent-1"}, "")
		creds, _ := out["credentials"].(map[string]any)
		if code != 200 || creds == nil {
			t.Fatalf("token: %d %v", code, out)
		}
		if creds["accessKeyId"] != "ASIATEMPORARYKEY0001" || creds["accessKeyId"] == storedKeyID ||
			creds["secretAccessKey"] != "temporary-secret-key" || creds["sessionToken"] != "FwoGZXIvYXdzEXAMPLEsession" {
			t.Fatalf("credentials %v", creds)
		}
		if exp, err := time.Parse(time.RFC3339, fmt.Sprint(creds["expiration"])); err != nil || time.Until(exp) < 59*time.Minute {
			t.Fatalf("expiration %v (%v)", creds["expiration"], err)
		}
		if _, ok := out["access_token"]; ok {
			t.Fatalf("AWS credentials rendered as an OAuth token: %v", out)
		}
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), storedSecret) {
			t.Fatal("the long-lived secret key left the service")
		}
		// Cached.
		if code, _ := e.call(token.FnToken, map[string]any{"connector": "S3", "agent": "agent-1"}, ""); code != 200 || stsCalls.Load() != 1 {
			t.Fatalf("second call: %d, STS calls %d", code, stsCalls.Load())
		}
	})

	t.Run("gcs_service_account", func(t *testing.T) {
		code, out := e.call(token.FnToken, map[string]any{"connector": "Gcs", "agent": "agent-1"}, "")
		if code != 200 || out["access_token"] != "ya29.cloud-test-token" || out["token_type"] != "Bearer" {
			t.Fatalf("token: %d %v", code, out)
		}
		if in, _ := out["expires_in"].(float64); in < 3580 || in > 3599 {
			t.Fatalf("expires_in %v", out["expires_in"])
		}
		if _, ok := out["credentials"]; ok {
			t.Fatalf("OAuth token rendered as AWS credentials: %v", out)
		}
		if googleCalls.Load() != 1 {
			t.Fatalf("token endpoint calls %d", googleCalls.Load())
		}
	})

	t.Run("aws_iam refused", func(t *testing.T) {
		e.create(map[string]any{"name": "S3Wrong", "url": sts.URL, "grantType": "aws_iam", "clientId": storedKeyID, "clientSecret": "notTheRightSecretKey0123456789", "agents": []string{"agent-1"}})
		code, out := e.call(token.FnToken, map[string]any{"connector": "S3Wrong", "agent": "agent-1"}, "")
		eb := errBody(out)
		up, _ := eb["upstream"].(map[string]any)
		if code != 502 || eb["code"] != "upstream_error" || up["status"] != float64(403) || up["error"] != "SignatureDoesNotMatch" {
			t.Fatalf("got %d %v", code, out)
		}
		if raw, _ := json.Marshal(out); strings.Contains(string(raw), "notTheRightSecretKey0123456789") {
			t.Fatal("the error carries the secret key")
		}
	})
}
