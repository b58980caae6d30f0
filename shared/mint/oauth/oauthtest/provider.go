package oauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Provider is a small RFC 6749 token endpoint on loopback, for what fosite
// cannot be made to do on cue: refuse with a given status, hang, answer
// 503 or drop the connection for the first requests, hold a request while
// the test acts (Before). It serves client_credentials and refresh_token;
// refresh tokens rotate strictly, as fosite's do: each works once, and a
// reused one is invalid_grant. Set its fields before the first request;
// the atomics may change at any time.
type Provider struct {
	*httptest.Server

	// Calls counts requests; InvalidGrants the reused refresh tokens.
	Calls         atomic.Int32
	InvalidGrants atomic.Int32
	// Status, when non-zero, answers every request with it and
	// invalid_client.
	Status atomic.Int32
	// Hang holds every request until its caller gives up or the test ends.
	Hang atomic.Bool
	// FailFirst answers this many requests 503 (running OnFail first);
	// ResetFirst drops this many connections after reading the request.
	FailFirst  atomic.Int32
	ResetFirst atomic.Int32
	OnFail     func()
	// Before runs before request n (from 1) is answered.
	Before func(n int)

	// ExpiresIn is the tokens' lifetime (default 3600; negative: the
	// answer has no expires_in); Delay is waited before each answer,
	// holding the others.
	ExpiresIn int
	Delay     time.Duration
	// AccessToken, when set, is the access token every answer carries
	// (else access-N); Scope, when set, is sent back; ClientSecret, when
	// set, is required in the form (client_secret_post).
	AccessToken  string
	Scope        string
	ClientSecret string

	mu      sync.Mutex
	refresh string // the one valid refresh token
	issued  int
}

// NewProvider starts a provider whose valid refresh token is refresh,
// closed when t ends (a hung request first lets go).
func NewProvider(t testing.TB, refresh string) *Provider {
	p := &Provider{refresh: refresh, ExpiresIn: 3600}
	release := make(chan struct{})
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, release) }))
	t.Cleanup(p.Close)
	t.Cleanup(func() { close(release) }) // runs first: a hung handler ends
	return p
}

// CurrentRefresh is the one refresh token the provider accepts now.
func (p *Provider) CurrentRefresh() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refresh
}

// SetRefresh makes token the one valid refresh token, as a new consent
// would.
func (p *Provider) SetRefresh(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refresh = token
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
	n := int(p.Calls.Add(1))
	if p.Hang.Load() {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if p.ResetFirst.Add(-1) >= 0 {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if p.FailFirst.Add(-1) >= 0 {
		if p.OnFail != nil {
			p.OnFail()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
		return
	}
	if p.Before != nil {
		p.Before(n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	time.Sleep(p.Delay)
	if s := p.Status.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
		return
	}
	if p.ClientSecret != "" && r.PostForm.Get("client_secret") != p.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	p.issued++
	access := p.AccessToken
	if access == "" {
		access = fmt.Sprintf("access-%d", p.issued)
	}
	resp := map[string]any{"access_token": access, "token_type": "Bearer"}
	if p.ExpiresIn >= 0 {
		resp["expires_in"] = p.ExpiresIn
	}
	if p.Scope != "" {
		resp["scope"] = p.Scope
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != p.refresh {
			p.InvalidGrants.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"refresh token reused or revoked"}`)
			return
		}
		p.refresh = fmt.Sprintf("refresh-%d", p.issued)
		resp["refresh_token"] = p.refresh
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}
