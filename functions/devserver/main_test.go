package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestDataSurvivesRestart: the local run keeps connectors and secrets in
// its data directory.
func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	a, err := newApp(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	code, out := post(t, srv.URL+"/connectors-create", `{"name":"GmailAPI","url":"http://127.0.0.1:9/token","grantType":"refresh_token","clientId":"c","clientSecret":"devserver-secret-1","refreshToken":"devserver-refresh-1","agents":["mailer"]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	srv.Close()
	a.Close()

	a, err = newApp(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv = httptest.NewServer(a.Handler())
	defer srv.Close()
	code, out = post(t, srv.URL+"/connectors-get", `{"name":"GmailAPI"}`)
	if code != 200 || out["hasRefreshToken"] != true || out["url"] != "http://127.0.0.1:9/token" {
		t.Fatalf("after restart: %d %v", code, out)
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, fn := range []string{"connectors-create", "connectors-list", "connectors-get", "connectors-update", "connectors-delete"} {
		if !strings.Contains(string(raw), fn) {
			t.Fatalf("index lacks %s: %s", fn, raw)
		}
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "devserver-secret-1") {
		t.Fatal("secret in logs")
	}
}
