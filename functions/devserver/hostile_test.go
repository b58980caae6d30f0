package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The local run's trust boundary: loopback callers without a token are
// local-dev with the admin and agent roles, so a web page must not be able to
// reach it through a browser, neither by DNS rebinding (its own host name
// resolving to 127.0.0.1, which leaves that name in Host) nor by a
// cross-origin fetch or form post (which carries the page's Origin).

// hostileRun starts the local run's handler on a loopback listener and
// returns its URL and port.
func hostileRun(t *testing.T) (string, string) {
	t.Helper()
	a, err := newApp(t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, port
}

const hostileConnector = `{"name":"Rebound","url":"http://127.0.0.1:9/token","grantType":"client_credentials","clientId":"c","clientSecret":"rebound-secret-1","agents":["a"]}`

// send POSTs body to url+path with the given Host and Origin ("" leaves
// Origin out) and returns the status and the decoded body.
func send(t *testing.T, url, path, host, origin, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// created reports whether the connector the hostile requests try to create
// exists, asked the way a legitimate local caller asks.
func created(t *testing.T, url string) bool {
	t.Helper()
	code, out := send(t, url, "/connectors-get", "", "", `{"name":"Rebound"}`)
	switch code {
	case http.StatusOK:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("connectors-get: %d %v", code, out)
	return false
}

func wantRefused(t *testing.T, code int, out map[string]any) {
	t.Helper()
	e, _ := out["error"].(map[string]any)
	if code != http.StatusForbidden || e["code"] != "permission_denied" || e["message"] == "" {
		t.Fatalf("got %d %v; want 403 permission_denied with a message", code, out)
	}
}

// TestHostileForeignHostIsRefused: a page on evil.example that rebinds its
// name to 127.0.0.1 sends Host: evil.example:PORT. It must get 403 before any
// function runs: nothing is created, no connector is listed.
func TestHostileForeignHostIsRefused(t *testing.T) {
	url, port := hostileRun(t)
	for _, host := range []string{
		"evil.example:8080",
		"evil.example:" + port,
		"evil.example",
		"localhost.evil.example:" + port,
		"127.0.0.1.nip.io:" + port,
		"localhost.:" + port, // a trailing dot is another origin and a DNS name
		"LOCALHOST.:" + port,
		"0.0.0.0:" + port,
		"10.0.0.1:" + port,
		"[::ffff:127.0.0.1]:" + port,
		"[fe80::1%25lo]:" + port,
		"localhost:http",
	} {
		t.Run(host, func(t *testing.T) {
			code, out := send(t, url, "/connectors-create", host, "", hostileConnector)
			wantRefused(t, code, out)
			if created(t, url) {
				t.Fatal("the refused request created a connector")
			}
			code, out = send(t, url, "/connectors-list", host, "", `{}`)
			wantRefused(t, code, out)
			code, out = send(t, url, "/token", host, "", `{"connector":"Rebound","agent":"a"}`)
			wantRefused(t, code, out)
		})
	}
}

// TestHostileForeignOriginIsRefused: a cross-origin fetch or form post from
// any other origin, including another port on localhost, is refused.
func TestHostileForeignOriginIsRefused(t *testing.T) {
	url, port := hostileRun(t)
	for _, origin := range []string{
		"http://evil.example",
		"http://evil.example:" + port,
		"http://localhost:1",
		"http://localhost:" + otherPort(port),
		"http://127.0.0.1:" + otherPort(port),
		"https://localhost:" + port, // another scheme is another origin
		"http://localhost.:" + port,
		"null", // sandboxed frames, file:// pages
		"http://user@localhost:" + port,
		"",
	} {
		t.Run(origin, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, url+"/connectors-create", strings.NewReader(hostileConnector))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header["Origin"] = []string{origin} // present, even when empty
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			wantRefused(t, resp.StatusCode, out)
			if created(t, url) {
				t.Fatal("the refused request created a connector")
			}
		})
	}

	// Two Origin headers: no browser sends that; refused.
	req, _ := http.NewRequest(http.MethodPost, url+"/connectors-list", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header["Origin"] = []string{url, "http://evil.example"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("two Origin headers: %d, want 403", resp.StatusCode)
	}
}

// otherPort is a port number that is not port.
func otherPort(port string) string {
	if port == "8081" {
		return "8082"
	}
	return "8081"
}
