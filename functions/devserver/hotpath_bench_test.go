package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/logging"
)

// The token function's hot path, a cache hit, through the local run's
// whole handler chain, each next to a handler that writes a constant JSON
// body of the same size, for a ratio (scripts/bench measures the same
// across processes).

const mintBody = `{"connector":"Bench","agent":"a1"}`

// benchHandlers returns the local run's handler, with a connector Bench
// whose token is already cached, and the constant handler. The local run
// logs as it does when run: JSON lines through shared/logging (to
// io.Discard here), so the audit line is part of what is measured.
func benchHandlers(b testing.TB) (app, constant http.Handler) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3600}`)
	}))
	b.Cleanup(provider.Close)
	a, err := newApp(b.TempDir(), logging.New(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	h := a.Handler()
	body := fmt.Sprintf(`{"name":"Bench","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, provider.URL)
	if w := serve(h, "/connectors-create", body); w.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := serve(h, "/token", mintBody); w.Code != http.StatusOK {
		b.Fatalf("first mint: %d %s", w.Code, w.Body)
	}
	constant = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"bench-token","token_type":"Bearer","expires_in":3600,"expires_at":"2026-11-26T03:00:00Z"}`))
	})
	return h, constant
}

// BenchmarkTokenCacheHit calls the handlers in-process, without a network.
// Each goroutine reuses one request and one response writer (hitCaller),
// so allocs/op counts the handler's own allocations, not the harness's.
func BenchmarkTokenCacheHit(b *testing.B) {
	app, constant := benchHandlers(b)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"constant", constant}, {"token", app}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				call := newHitCaller(c.h)
				for pb.Next() {
					if code := call(); code != http.StatusOK {
						b.Fatalf("token: %d", code)
					}
				}
			})
		})
	}
}

// newHitCaller returns a function that sends the token request to h from
// a loopback address to a loopback Host, as serve does, reusing its
// request, body reader and response writer: it allocates nothing itself
// per call.
func newHitCaller(h http.Handler) func() int {
	body := strings.NewReader(mintBody)
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/token", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = int64(len(mintBody))
	r.Body = io.NopCloser(body)
	w := &reusedWriter{header: http.Header{}}
	return func() int {
		body.Reset(mintBody)
		clear(w.header)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code == 0 {
			w.code = http.StatusOK
		}
		return w.code
	}
}

// reusedWriter is a ResponseWriter that keeps only the status.
type reusedWriter struct {
	header http.Header
	code   int
}

func (w *reusedWriter) Header() http.Header { return w.header }

func (w *reusedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *reusedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// BenchmarkTokenHTTP serves them over loopback HTTP, 32 clients per CPU.
func BenchmarkTokenHTTP(b *testing.B) {
	app, constant := benchHandlers(b)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"constant", constant}, {"token", app}} {
		b.Run(c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL+"/token", "application/json", strings.NewReader(mintBody))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("token: %d", resp.StatusCode)
					}
				}
			})
		})
	}
}

// serve sends one request from a loopback address to a loopback Host (the
// local run's local-dev caller; any other Host is refused) straight to h.
func serve(h http.Handler, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
