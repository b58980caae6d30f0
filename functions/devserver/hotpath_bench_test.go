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

// BenchmarkTokenCacheHit is the token function's hot path in-process (no
// network): a cache hit through the local run's whole handler chain, next
// to a handler that writes a constant JSON body, for a ratio.
func BenchmarkTokenCacheHit(b *testing.B) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3600}`)
	}))
	defer provider.Close()
	a, err := newApp(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := a.Handler()
	body := fmt.Sprintf(`{"name":"Bench","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, provider.URL)
	if w := serve(h, "/connectors-create", body); w.Code != 201 {
		b.Fatalf("create: %d %s", w.Code, w.Body)
	}
	constant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"bench-token","token_type":"Bearer","expires_in":3600,"expires_at":"2026-11-26T03:00:00Z"}`))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"constant", constant}, {"token", h}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if w := serve(c.h, "/token", `{"connector":"Bench","agent":"a1"}`); w.Code != 200 {
						b.Fatalf("token: %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

func serve(h http.Handler, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func BenchmarkTokenHTTP(b *testing.B) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3600}`)
	}))
	defer provider.Close()
	a, err := newApp(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := a.Handler()
	body := fmt.Sprintf(`{"name":"Bench","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, provider.URL)
	if w := serve(h, "/connectors-create", body); w.Code != 200 && w.Code != 201 {
		b.Fatalf("create: %d %s", w.Code, w.Body)
	}
	constant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"bench-token","token_type":"Bearer","expires_in":3600,"expires_at":"2026-11-26T03:00:00Z"}`))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"constant", constant}, {"token", h}} {
		b.Run(c.name, func(b *testing.B) {
			srv := httptest.NewServer(c.h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL+"/token", "application/json", strings.NewReader(`{"connector":"Bench","agent":"a1"}`))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("%d", resp.StatusCode)
					}
				}
			})
		})
	}
}
