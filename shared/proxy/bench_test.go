package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/proxy"
)

// BenchmarkProxyCacheHit is one proxied GET of a small JSON answer on a
// cached token, through Service.Do to a loopback API: what a proxied call
// costs beyond the HTTP exchange itself (allocations per call).
func BenchmarkProxyCacheHit(b *testing.B) {
	p := oauthtest.NewProvider(b, "")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg-1842","snippet":"Lunch on Friday?"}`)
	}))
	b.Cleanup(api.Close)
	svc, cat, _ := newService(b)
	if _, err := cat.Create(context.Background(), &connector.Input{Name: ptr("Api"), URL: ptr(p.URL), GrantType: ptr("client_credentials"),
		ClientID: ptr("c"), ClientSecret: ptr("s"), APIBaseURL: ptr(api.URL + "/v1/"), Agents: ptr([]string{"agent-1"})}, "admin"); err != nil {
		b.Fatal(err)
	}
	call := func() {
		resp, err := svc.Do(context.Background(), &proxy.Call{Principal: "p", Agent: "agent-1", Connector: "Api", Method: "GET",
			Path: "users/me/messages", RawQuery: "maxResults=5", Header: http.Header{"Accept": {"application/json"}}})
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}

// BenchmarkBareGet is BenchmarkProxyCacheHit's baseline: the same GET to
// the same kind of API with a plain client and a constant header. The
// difference between the two is what the proxy adds.
func BenchmarkBareGet(b *testing.B) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg-1842","snippet":"Lunch on Friday?"}`)
	}))
	b.Cleanup(api.Close)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	call := func() {
		req, _ := http.NewRequest("GET", api.URL+"/v1/users/me/messages?maxResults=5", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer constant-token")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}
