package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The token function's hot path, a cache hit, through the local run's
// whole handler chain, each next to a handler that writes a constant JSON
// body of the same size, for a ratio (scripts/bench measures the same
// across processes).

const mintBody = `{"connector":"Bench","agent":"a1"}`

// benchHandlers returns the local run's handler, with a connector Bench
// whose token is already cached, and the constant handler.
func benchHandlers(b *testing.B) (app, constant http.Handler) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3600}`)
	}))
	b.Cleanup(provider.Close)
	a, err := newApp(b.TempDir(), slog.New(slog.DiscardHandler))
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
func BenchmarkTokenCacheHit(b *testing.B) {
	app, constant := benchHandlers(b)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"constant", constant}, {"token", app}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if w := serve(c.h, "/token", mintBody); w.Code != http.StatusOK {
						b.Fatalf("token: %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
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
