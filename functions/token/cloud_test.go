package token_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/testenv"
)

const (
	storedKeyID  = "AKIAIOSFODNN7EXAMPLE"
	storedSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// newSTS is cloudtest's STS on loopback, knowing the stored key pair, and
// a count of the requests it saw.
func newSTS(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	sts := &cloudtest.STS{KeyID: storedKeyID, SecretKey: storedSecret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		sts.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// newGoogleToken is cloudtest's Google token endpoint on loopback, and a
// service-account key whose token_uri points at it.
func newGoogleToken(t *testing.T) (key string, calls *atomic.Int32) {
	calls = &atomic.Int32{}
	g := &cloudtest.GoogleToken{ClientEmail: "rag@demo-project.iam.gserviceaccount.com", RequiredScope: mint.DefaultGoogleScope}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.TokenURI = srv.URL + "/token"
	raw, pub, err := cloudtest.NewServiceAccountKey(g.ClientEmail, "demo-project", g.TokenURI)
	if err != nil {
		t.Fatal(err)
	}
	g.PublicKey = pub
	return string(raw), calls
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
		if id, _ := creds["accessKeyId"].(string); !strings.HasPrefix(id, "ASIA") || id == storedKeyID ||
			creds["secretAccessKey"] == "" || creds["secretAccessKey"] == storedSecret || creds["sessionToken"] == "" {
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
		if tok, _ := out["access_token"].(string); code != 200 || !strings.HasPrefix(tok, "ya29.") || out["token_type"] != "Bearer" {
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
