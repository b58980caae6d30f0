package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// Secrets of TestLocalMetrics: none may appear on /metrics.
const (
	metricsAccessToken  = "metrics-access-token-5d1e"
	metricsClientSecret = "metrics-client-secret-9a7f"
	metricsRefreshToken = "metrics-refresh-token-2c44"
)

// TestLocalMetrics: the local run's /metrics counts mints by connector,
// grant type, outcome and layer (a success minted then served locally, a
// provider refusing the client, a provider failing on cue, a revoked
// refresh token, a name no connector has), flags the revoked connector as
// needing a reconnect until it mints again, times the provider, counts
// proxied and files calls by status, and shows no secret or token.
func TestLocalMetrics(t *testing.T) {
	t.Setenv("CONNECTORS_METRICS", "") // the local run's default: prometheus
	good := oauthtest.NewProvider(t, "")
	good.AccessToken = metricsAccessToken
	good.ClientSecret = metricsClientSecret
	refusing := oauthtest.NewProvider(t, "")
	refusing.Status.Store(http.StatusUnauthorized)
	failing := oauthtest.NewProvider(t, "")
	failing.FailFirst.Store(100) // 503 temporarily_unavailable, every attempt
	revoking := oauthtest.NewProvider(t, "a-newer-consent")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/me" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"me":true}`)
	}))
	t.Cleanup(api.Close)

	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	for name, body := range map[string]string{
		"Good":    fmt.Sprintf(`{"name":"Good","url":%q,"apiBaseUrl":%q,"grantType":"client_credentials","clientId":"c","clientSecret":%q,"agents":["a1"]}`, good.URL, api.URL+"/v1", metricsClientSecret),
		"Refused": fmt.Sprintf(`{"name":"Refused","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, refusing.URL),
		"Failing": fmt.Sprintf(`{"name":"Failing","url":%q,"grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a1"]}`, failing.URL),
		"Revoked": fmt.Sprintf(`{"name":"Revoked","url":%q,"grantType":"refresh_token","clientId":"c","clientSecret":"s","refreshToken":%q,"agents":["a1"]}`, revoking.URL, metricsRefreshToken),
	} {
		if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
			t.Fatalf("create %s: %d %v", name, code, out)
		}
	}
	mint := func(name string, want int) {
		t.Helper()
		if code, out := post(t, srv.URL+"/token", fmt.Sprintf(`{"connector":%q,"agent":"a1"}`, name)); code != want {
			t.Fatalf("token %s: %d %v, want %d", name, code, out, want)
		}
	}
	mint("Good", 200) // minted
	mint("Good", 200) // local
	mint("Good", 200) // local
	mint("Refused", 502)
	mint("Failing", 502)
	mint("Revoked", http.StatusConflict) // 409 needs_reconnect: a dead grant
	mint("Nowhere", 404)

	m := scrape(t, srv.URL)
	m.want(t, "connectors_mints_total", `connector="Good",grant_type="client_credentials",layer="minted",outcome="ok"`, 1)
	m.want(t, "connectors_mints_total", `connector="Good",grant_type="client_credentials",layer="local",outcome="ok"`, 2)
	m.want(t, "connectors_mints_total", `connector="Refused",grant_type="client_credentials",layer="none",outcome="invalid_client"`, 1)
	m.want(t, "connectors_mints_total", `connector="Failing",grant_type="client_credentials",layer="none",outcome="temporarily_unavailable"`, 1)
	m.want(t, "connectors_mints_total", `connector="Revoked",grant_type="refresh_token",layer="none",outcome="invalid_grant"`, 1)
	m.want(t, "connectors_mints_total", `connector="unknown",grant_type="unknown",layer="none",outcome="not_found"`, 1)
	m.want(t, "connectors_credential_needs_reconnect", `connector="Revoked"`, 1)
	m.want(t, "connectors_upstream_duration_seconds_count", `connector="Good",grant_type="client_credentials"`, 1)
	m.want(t, "connectors_upstream_duration_seconds_count", `connector="Failing",grant_type="client_credentials"`, 3) // each attempt
	if strings.Contains(m.text, "Nowhere") {
		t.Error("/metrics names a connector no connector has: a caller's word would be a label")
	}

	// The admin reconnects: the next mint succeeds and clears the flag.
	revoking.SetRefresh(metricsRefreshToken)
	mint("Revoked", 200)
	// Proxied calls and files calls, by status.
	for path, want := range map[string]int{"/proxy/Good/me": 200, "/proxy/Good/missing": 404, "/proxy/Nowhere/me": 404} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Connectors-Agent", "a1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if code, out := post(t, srv.URL+"/files", `{"op":"list","uri":"gs://bucket/x","agent":"a1"}`); code != 403 {
		t.Fatalf("files list without access: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/files", `{"op":"frobnicate","uri":"gs://bucket/x","agent":"a1"}`); code != 400 {
		t.Fatalf("files unknown op: %d %v", code, out)
	}

	m = scrape(t, srv.URL)
	m.want(t, "connectors_credential_needs_reconnect", `connector="Revoked"`, 0)
	m.want(t, "connectors_mints_total", `connector="Revoked",grant_type="refresh_token",layer="minted",outcome="ok"`, 1)
	m.want(t, "connectors_proxy_calls_total", `connector="Good",op="proxy",status="200",status_class="2xx"`, 1)
	m.want(t, "connectors_proxy_calls_total", `connector="Good",op="proxy",status="404",status_class="4xx"`, 1)
	m.want(t, "connectors_proxy_calls_total", `connector="unknown",op="proxy",status="404",status_class="4xx"`, 1)
	m.want(t, "connectors_files_calls_total", `operation="list",status="403",status_class="4xx"`, 1)
	m.want(t, "connectors_files_calls_total", `operation="unknown",status="400",status_class="4xx"`, 1)
	for _, secret := range []string{metricsAccessToken, metricsClientSecret, metricsRefreshToken, "a-newer-consent", "access-1"} {
		if strings.Contains(m.text, secret) {
			t.Errorf("/metrics shows the secret %q", secret)
		}
	}
}

// TestLocalMetricsOff: CONNECTORS_METRICS=off serves no /metrics, and a
// value that is no mode stops the local run naming the variable.
func TestLocalMetricsOff(t *testing.T) {
	t.Setenv("CONNECTORS_METRICS", "off")
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if w := serve(a.Handler(), "/metrics", ""); w.Code != http.StatusNotFound {
		t.Fatalf("/metrics with metrics off: %d", w.Code)
	}
	for _, v := range []string{"statsd", "gcm"} {
		t.Setenv("CONNECTORS_METRICS", v)
		if _, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "CONNECTORS_METRICS") {
			t.Fatalf("CONNECTORS_METRICS=%s: %v, want an error naming the variable", v, err)
		}
	}
}

// page is a scraped /metrics page.
type page struct{ text string }

func scrape(t *testing.T, base string) page {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return page{string(raw)}
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$`)

// want checks that the sample of name whose labels include labels (in the
// page's sorted order, other labels around them allowed) has value v.
func (p page) want(t *testing.T, name, labels string, v float64) {
	t.Helper()
	for _, line := range strings.Split(p.text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name || !strings.Contains(","+m[2]+",", ","+labels+",") {
			continue
		}
		got, err := strconv.ParseFloat(m[3], 64)
		if err != nil || got != v {
			t.Errorf("%s{%s} = %s, want %v", name, labels, m[3], v)
		}
		return
	}
	t.Errorf("/metrics has no %s{%s}; the page:\n%s", name, labels, p.text)
}
