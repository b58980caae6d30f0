// Package apitest is a third-party API on loopback for the proxy's tests:
// an OAuth-protected resource server that checks each bearer token with the
// authorization server that issued it (RFC 7662 introspection at a real
// oauthtest.Fosite, so a revoked token is refused for real), records what
// reached it, and answers the way APIs do: JSON, large and streamed
// bodies, server-sent events, rate limits, errors, cookies, silence.
//
// Endpoints, chosen by the last path segment (any prefix, so that a test can
// put the API below any base path):
//
//	.../echo          200 JSON: method, path, query, body length and SHA-256
//	.../bytes?n=N     200, N bytes of a fixed pattern (Content-Length set)
//	.../chunked?n=N   200, N bytes without Content-Length
//	.../sse?events=K  text/event-stream: event i is sent once Next receives
//	.../status?code=C&retryAfter=S   C with Retry-After when given
//	.../cookie        200 with Set-Cookie
//	.../redirect      302 to another host
//	.../hang          no answer until the caller goes away
//
// Every other path is echo. Without an active bearer token: 401 with
// WWW-Authenticate, as RFC 6750 §3 says.
package apitest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Request is what reached the API.
type Request struct {
	Method   string
	Path     string // escaped, as received
	RawQuery string
	Header   http.Header
	Token    string // the bearer token, "" when none
	BodyLen  int64
	BodySHA  string
}

// API is the server. Set Active before the first request.
type API struct {
	*httptest.Server
	// Active says whether a bearer token is valid (nil: any non-empty
	// token is). Errors are answered 503.
	Active func(token string) (bool, error)
	// Next releases the next event of an /sse answer.
	Next chan struct{}
	// Unauthenticated lets requests without a valid token through (an API
	// for SigV4-signed calls, which the test checks itself).
	Unauthenticated bool

	mu       sync.Mutex
	requests []Request
}

// New starts an API, closed when t ends.
func New(t testing.TB) *API {
	a := &API{Next: make(chan struct{}, 16)}
	done := make(chan struct{})
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, done) }))
	t.Cleanup(a.Close)
	t.Cleanup(func() { close(done) })
	return a
}

// Requests returns what reached the API so far.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Last returns the last request, or fails t.
func (a *API) Last(t testing.TB) Request {
	t.Helper()
	rs := a.Requests()
	if len(rs) == 0 {
		t.Fatal("apitest: no request reached the API")
	}
	return rs[len(rs)-1]
}

// Pattern is byte i of the /bytes and /chunked bodies.
func Pattern(i int64) byte { return byte('a' + i%26) }

func (a *API) serve(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		token = ""
	}
	a.mu.Lock()
	a.requests = append(a.requests, Request{
		Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
		Token: token, BodyLen: n, BodySHA: hex.EncodeToString(h.Sum(nil)),
	})
	a.mu.Unlock()
	if !a.Unauthenticated {
		ok := token != ""
		if ok && a.Active != nil {
			var err error
			if ok, err = a.Active(token); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_token"}`)
			return
		}
	}
	q := r.URL.Query()
	seg := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	switch seg {
	case "bytes", "chunked":
		size, _ := strconv.ParseInt(q.Get("n"), 10, 64)
		if seg == "bytes" {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		buf := make([]byte, 64<<10)
		for off := int64(0); off < size; {
			m := min(int64(len(buf)), size-off)
			for i := range m {
				buf[i] = Pattern(off + i)
			}
			if _, err := w.Write(buf[:m]); err != nil {
				return
			}
			off += m
		}
	case "sse":
		k, _ := strconv.Atoi(q.Get("events"))
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i := range k {
			if i > 0 {
				select {
				case <-a.Next:
				case <-r.Context().Done():
					return
				case <-done:
					return
				}
			}
			fmt.Fprintf(w, "event: message\ndata: {\"n\":%d}\n\n", i)
			rc.Flush()
		}
	case "status":
		code, _ := strconv.Atoi(q.Get("code"))
		if ra := q.Get("retryAfter"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"from the API"}}`, code)
	case "cookie":
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "api-session-cookie", Path: "/"})
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	case "redirect":
		http.Redirect(w, r, "https://elsewhere.example.com/landing", http.StatusFound)
	case "hang":
		select {
		case <-r.Context().Done():
		case <-done:
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
			"bodyBytes": n, "bodySha256": hex.EncodeToString(h.Sum(nil)),
		})
	}
}
