package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// TestLoopbackNamesAndOwnOriginPass: what the README and the console use
// keeps working: localhost, 127.0.0.1 and [::1] in any case and with any
// port, with no Origin (curl) or the run's own origin (the console's
// same-origin fetches).
func TestLoopbackNamesAndOwnOriginPass(t *testing.T) {
	url, port := hostileRun(t)
	for _, c := range []struct{ host, origin string }{
		{"", ""},
		{"localhost:" + port, ""},
		{"LocalHost:" + port, ""},
		{"localhost", ""},
		{"127.0.0.1:" + port, ""},
		{"127.1.2.3:" + port, ""},
		{"[::1]:" + port, ""},
		{"[::1]", ""},
		{"localhost:9999", ""}, // a forwarded port
		{"", url},
		{"", url + "/"},
		{"localhost:" + port, "http://localhost:" + port},
		{"localhost:" + port, "http://LOCALHOST:" + port},
		{"[::1]:" + port, "http://[::1]:" + port},
		{"127.0.0.1:" + port, "http://localhost:" + port},
		{"localhost:9999", "http://localhost:9999"}, // the browser's view of a forwarded port
	} {
		t.Run(c.host+" "+c.origin, func(t *testing.T) {
			code, out := send(t, url, "/connectors-list", c.host, c.origin, `{}`)
			if code != http.StatusOK {
				t.Fatalf("got %d %v, want 200", code, out)
			}
		})
	}
	code, out := send(t, url, "/connectors-create", "localhost:"+port, "http://localhost:"+port, hostileConnector)
	if code != http.StatusCreated || !created(t, url) {
		t.Fatalf("same-origin create: %d %v", code, out)
	}
	resp, err := http.Get(url + "/console")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(bytes.ToLower(page), []byte("<html")) {
		t.Fatalf("console: %d", resp.StatusCode)
	}
}

// TestHostVerdictIsPerHost: loopbackOnly keeps the last accepted Host and
// its port; a refused Host between accepted ones is refused every time, and
// an Origin is checked against the port of the Host it came with, not the
// one kept.
func TestHostVerdictIsPerHost(t *testing.T) {
	url, port := hostileRun(t)
	for i, c := range []struct {
		host, origin string
		want         int
	}{
		{"localhost:9999", "", http.StatusOK},
		{"evil.example:" + port, "", http.StatusForbidden},
		{"localhost:9999", "http://localhost:9999", http.StatusOK},
		{"localhost:" + port, "http://localhost:9999", http.StatusForbidden}, // 9999 was the kept Host's port
		{"evil.example:" + port, "", http.StatusForbidden},
		{"localhost:" + port, "", http.StatusOK},
		{"localhost.:" + port, "", http.StatusForbidden},
		{"localhost:" + port, "http://localhost:" + port, http.StatusOK},
	} {
		if code, out := send(t, url, "/connectors-list", c.host, c.origin, `{}`); code != c.want {
			t.Fatalf("request %d (Host %q, Origin %q): got %d %v, want %d", i, c.host, c.origin, code, out, c.want)
		}
	}
}
