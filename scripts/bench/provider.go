package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"
)

// provider is a loopback OAuth token endpoint that counts the token
// requests it answers. Requests do not queue behind each other: delay is
// slept concurrently, as a real provider's latency would be.
type provider struct {
	srv       *httptest.Server
	calls     atomic.Int64
	delay     atomic.Int64 // time.Duration
	expiresIn int
}

func newProvider(expiresIn int) *provider {
	p := &provider{expiresIn: expiresIn}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

func (p *provider) URL() string { return p.srv.URL + "/token" }

func (p *provider) Close() { p.srv.Close() }

func (p *provider) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	n := p.calls.Add(1)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	time.Sleep(time.Duration(p.delay.Load()))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("bench-access-%d", n),
		"token_type":   "bearer",
		"expires_in":   p.expiresIn,
	})
}
