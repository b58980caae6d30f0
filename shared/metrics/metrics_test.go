package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/mint/oauth"
)

func newTest(t *testing.T) (*Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := New(mp.Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// sums collects name's points as "label=value,…" → value.
func sums(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				var kv []string
				for _, a := range p.Attributes.ToSlice() {
					kv = append(kv, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
				}
				out[strings.Join(kv, ",")] = p.Value
			}
		}
	}
	return out
}

// TestOutcome: only RFC 6749 codes a provider sends become outcomes; any
// other code it makes up is upstream_error, a 5xx or 429 without a known
// code upstream_unavailable, and the service's own errors their wire code.
func TestOutcome(t *testing.T) {
	up := func(status int, code string) error {
		return fmt.Errorf("mint: x: %w", &oauth.UpstreamError{Status: status, Code: code})
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{up(400, "invalid_grant"), "invalid_grant"},
		{up(401, "invalid_client"), "invalid_client"},
		{up(503, "temporarily_unavailable"), "temporarily_unavailable"},
		{up(400, "sk-live-1234 looks like a secret"), "upstream_error"},
		{up(503, ""), "upstream_unavailable"},
		{up(429, "slow_down"), "upstream_unavailable"},
		{errkind.New(errkind.NotFound, "no such connector", "", ""), "not_found"},
		{context.DeadlineExceeded, "unavailable"},
		{errors.New("something"), "internal"},
	} {
		if got := Outcome(c.err); got != c.want {
			t.Errorf("Outcome(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestMintSeries: counts come out by connector, grant type, outcome and
// layer; an empty connector or grant type is "unknown"; past
// MaxMintSeries new series are counted under connector "other"; a
// reconnect flag is 1 then 0.
func TestMintSeries(t *testing.T) {
	m, r := newTest(t)
	hit := m.Mint("Mail", "refresh_token", OK, "local")
	for range 3 {
		hit.Inc()
	}
	m.Mint("", "", "not_found", "none").Inc()
	m.maxSer = 3
	m.Mint("Late", "client_credentials", OK, "minted").Inc()
	m.Mint("Later", "client_credentials", OK, "minted").Inc()
	m.NeedsReconnect("Mail", true)
	m.NeedsReconnect("Fine", false) // never flagged: no series
	got := sums(t, r, NameMints)
	want := map[string]int64{
		"connector=Mail,grant_type=refresh_token,layer=local,outcome=ok":        3,
		"connector=unknown,grant_type=unknown,layer=none,outcome=not_found":     1,
		"connector=Late,grant_type=client_credentials,layer=minted,outcome=ok":  1,
		"connector=other,grant_type=client_credentials,layer=minted,outcome=ok": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mints = %v, want %v", got, want)
	}
	if got := sums(t, r, NameNeedsReconnect); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"connector=Mail": 1}) {
		t.Errorf("needs_reconnect = %v", got)
	}
	m.NeedsReconnect("Mail", false)
	if got := sums(t, r, NameNeedsReconnect); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"connector=Mail": 0}) {
		t.Errorf("needs_reconnect after recovery = %v", got)
	}
}

// TestCountingAHitAllocatesNothing: the cache-hit path's cost.
func TestCountingAHitAllocatesNothing(t *testing.T) {
	m, _ := newTest(t)
	c := m.Mint("Mail", "refresh_token", OK, "local")
	if n := testing.AllocsPerRun(1000, c.Inc); n != 0 {
		t.Fatalf("Count.Inc allocates %.1f times", n)
	}
}

// TestNil: a nil *Metrics (metrics off) counts nothing and does not panic.
func TestNil(t *testing.T) {
	var m *Metrics
	m.Mint("a", "b", OK, "local").Inc()
	m.NeedsReconnect("a", true)
	m.Upstream(context.Background(), "a", "b", 0)
	m.ProxyCall(context.Background(), "a", "proxy", 200)
	m.FilesCall(context.Background(), "list", 200)
}

// TestSettings: the modes, the interval, and errors naming the variable.
func TestSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	s, err := SettingsFromEnv(env(nil), Prometheus)
	if err != nil || s.Mode != Prometheus || s.Interval != DefaultInterval {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = SettingsFromEnv(env(map[string]string{"CONNECTORS_METRICS": " GCM ", "CONNECTORS_METRICS_INTERVAL": "30s"}), Off)
	if err != nil || s.Mode != GCM || s.Interval.String() != "30s" {
		t.Fatalf("gcm 30s: %+v %v", s, err)
	}
	for k, v := range map[string]string{"CONNECTORS_METRICS": "statsd", "CONNECTORS_METRICS_INTERVAL": "1s"} {
		if _, err := SettingsFromEnv(env(map[string]string{k: v}), Off); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
		}
	}
	if _, err := SettingsFromEnv(env(map[string]string{"CONNECTORS_METRICS_INTERVAL": "soon"}), Off); err == nil {
		t.Error("interval soon: accepted")
	}
}

// TestStatusClass: the class label.
func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 404: "4xx", 503: "5xx", 499: "4xx", 0: "other", 600: "other"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %s, want %s", status, got, want)
		}
	}
}
