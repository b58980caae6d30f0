package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint/cloudtest"
)

// TestLeakScan runs the whole scenario set through the local run — every
// grant type created, updated, minted and deleted, and every error path —
// capturing every log line and response body, and fails if any stored
// secret value, or its base64 or URL-encoded form, appears anywhere.
func TestLeakScan(t *testing.T) {
	const (
		ccSecret     = "leak-cc-client-secret-71b2"
		rtSecret     = "leak-rt-client-secret-0c9d"
		refresh0     = "leak-refresh-token-zero-5e3a"
		password     = "leak-password-value-9f41"
		awsSecret    = "leakAWSsecretKEY/abc+def=9911"
		newSecret    = "leak-rotated-client-secret-3d7e"
		echoedSecret = "leak-echoed-client-secret-aa12"
	)

	var mu sync.Mutex
	refreshes := map[string]bool{} // every refresh token the provider issued
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/echo":
			// A careless provider quoting the request back in its error.
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s in %s"}`, r.PostForm.Get("client_secret"), r.PostForm.Encode())
			return
		case "/google":
			fmt.Fprint(w, `{"access_token":"ya29.leak-scan","expires_in":3600,"token_type":"Bearer"}`)
			return
		case "/sts":
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult><Credentials><AccessKeyId>ASIALEAKSCAN0001</AccessKeyId><SecretAccessKey>temporary-secret</SecretAccessKey><SessionToken>session-token</SessionToken><Expiration>%s</Expiration></Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetSessionTokenResponse>`,
				time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			return
		}
		resp := map[string]any{"access_token": "at-" + r.PostForm.Get("grant_type"), "token_type": "bearer", "expires_in": 3600}
		if r.PostForm.Get("grant_type") == "refresh_token" {
			mu.Lock()
			next := fmt.Sprintf("leak-refresh-token-%d-ef01", len(refreshes)+1)
			refreshes[next] = true
			mu.Unlock()
			resp["refresh_token"] = next
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer provider.Close()
	saKey, _, err := cloudtest.NewServiceAccountKey("svc@leak-proj.iam.gserviceaccount.com", "leak-proj", provider.URL+"/google")
	if err != nil {
		t.Fatal(err)
	}

	logs := &logtest.Buffer{}
	a, err := newApp(t.TempDir(), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	var bodies []string
	call := func(fn string, body any, want int) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+"/"+fn, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		bodies = append(bodies, string(out))
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d: %s", fn, raw, resp.StatusCode, want, out)
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		return m
	}
	agents := []string{"scan"}
	connectors := []map[string]any{
		{"name": "CC", "url": provider.URL + "/token", "grantType": "client_credentials", "clientId": "cc", "clientSecret": ccSecret, "agents": agents},
		{"name": "Basic", "url": provider.URL + "/token", "grantType": "client_credentials", "clientId": "cc:id", "clientSecret": ccSecret, "headerAsPayload": true, "contentType": "application/json", "agents": agents},
		{"name": "RT", "url": provider.URL + "/token", "grantType": "refresh_token", "clientId": "rt", "clientSecret": rtSecret, "refreshToken": refresh0, "agents": agents},
		{"name": "PW", "url": provider.URL + "/token", "grantType": "password", "clientId": "pw", "username": "alice", "password": password, "agents": agents},
		{"name": "GCS", "grantType": "gcs_service_account", "clientSecret": string(saKey), "agents": agents},
		{"name": "AWS", "url": provider.URL + "/sts", "grantType": "aws_iam", "clientId": "AKIALEAKSCAN", "clientSecret": awsSecret, "agents": agents},
		{"name": "Echo", "url": provider.URL + "/echo", "grantType": "client_credentials", "clientId": "e", "clientSecret": echoedSecret, "agents": agents},
	}
	for _, c := range connectors {
		call("connectors-create", c, 201)
		call("connectors-get", map[string]any{"name": c["name"]}, 200)
	}
	call("connectors-list", map[string]any{"agent": "scan"}, 200)
	for _, name := range []string{"CC", "Basic", "RT", "PW", "GCS", "AWS"} {
		call("token", map[string]any{"connector": name, "agent": "scan"}, 200)
		call("connectors-test", map[string]any{"name": name}, 200)
	}
	// Error paths.
	call("token", map[string]any{"connector": "Echo", "agent": "scan"}, 502)
	call("connectors-test", map[string]any{"name": "Echo"}, 502)
	call("token", map[string]any{"connector": "CC", "agent": "stranger"}, 403)
	call("token", map[string]any{"connector": "Nope", "agent": "scan"}, 404)
	bad := map[string]any{"name": "Bad Name", "grantType": "client_credentials", "clientSecret": ccSecret}
	call("connectors-create", bad, 400)
	call("connectors-create", map[string]any{"name": "BadKey", "grantType": "gcs_service_account", "clientSecret": strings.Replace(string(saKey), "service_account", "user", 1)}, 400)
	call("connectors-create", map[string]any{"name": "Unknown", "clientSecret": ccSecret, "colour": "red"}, 400)
	call("connectors-update", map[string]any{"name": "CC", "revision": "stale", "changes": map[string]any{"clientSecret": newSecret}}, 409)
	call("connectors-update", map[string]any{"name": "CC", "changes": map[string]any{"clientSecret": newSecret, "active": false}}, 200)
	off := map[string]any{"name": "Off", "active": false, "url": provider.URL + "/token", "grantType": "client_credentials", "clientId": "o", "clientSecret": ccSecret, "agents": agents}
	call("connectors-create", off, 201)
	call("token", map[string]any{"connector": "Off", "agent": "scan"}, 409)
	call("connectors-delete", map[string]any{"name": "Off"}, 200)
	call("connectors-update", map[string]any{"name": "RT", "changes": map[string]any{"name": "RT2"}}, 200)
	for _, c := range connectors {
		name := c["name"]
		if name == "RT" {
			name = "RT2"
		}
		call("connectors-delete", map[string]any{"name": name}, 200)
	}

	secrets := append([]string{ccSecret, rtSecret, refresh0, password, awsSecret, newSecret, echoedSecret}, cloudtest.PrivateKeyLines(saKey)...)
	mu.Lock()
	for r := range refreshes {
		secrets = append(secrets, r)
	}
	mu.Unlock()
	if len(refreshes) == 0 {
		t.Fatal("the refresh token never rotated; the scan would miss rotated tokens")
	}
	haystack := strings.Join(bodies, "\n") + "\n" + logs.String()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)), url.QueryEscape(s)} {
			if strings.Contains(haystack, form) {
				t.Errorf("a secret (%.12s…) appears in a response body or log line", s)
			}
		}
	}
	if !strings.Contains(haystack, "at-client_credentials") || !strings.Contains(haystack, "ASIALEAKSCAN0001") {
		t.Fatal("the scan did not capture the minted credentials; it would miss body leaks")
	}
	if !strings.Contains(logs.String(), `"action":"delete"`) {
		t.Fatal("the scan captured no audit lines; it would miss log leaks")
	}
}
