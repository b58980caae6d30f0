// Package functest calls the functions in their tests as a caller would,
// over HTTP, and keeps every answer's body, so that a test can search all
// of them for secrets when it ends (no secret may appear in a response).
package functest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Client calls the functions served at URL (each at URL/NAME).
type Client struct {
	T   testing.TB
	URL string

	mu     sync.Mutex
	bodies []string
}

// Post sends body to function fn as JSON: []byte and string as they are,
// anything else encoded. A non-empty token goes as a bearer token. It
// returns the answer, whose body is read and kept.
func (c *Client) Post(fn string, body any, token string) (*http.Response, []byte) {
	c.T.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.T.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, c.URL+"/"+fn, bytes.NewReader(raw))
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.Do(req)
}

// Do sends req and returns the answer, whose body is read and kept.
func (c *Client) Do(req *http.Request) (*http.Response, []byte) {
	c.T.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.T.Fatal(err)
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, string(out))
	c.mu.Unlock()
	return resp, out
}

// Bodies returns every body received so far, one per line.
func (c *Client) Bodies() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.bodies, "\n")
}

// Serve serves the handlers of each map at /NAME on a loopback test server,
// as the local run does, each wrapped by wrap when it is given, and
// returns a Client for them. The server stops when t ends.
func Serve(t testing.TB, wrap func(http.Handler) http.Handler, handlers ...map[string]http.Handler) *Client {
	mux := http.NewServeMux()
	for _, hs := range handlers {
		for name, h := range hs {
			if wrap != nil {
				h = wrap(h)
			}
			mux.Handle("/"+name, h)
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Client{T: t, URL: srv.URL}
}
