// Package metrics holds the functions' OpenTelemetry instruments: mints by
// connector, grant type, outcome and cache layer; the provider's token
// endpoint latency; proxied calls and files calls by status; and which
// connectors need a reconnect. A *Metrics is made once per process over a
// meter (New) and injected where something is counted (mint.Service,
// proxy.Service, through the minting service the files function); a nil
// *Metrics counts nothing, at the cost of a nil check. Exporting is the
// business of the provider the meter comes from: shared/metrics/gcm for
// Cloud Monitoring (deployed, made in shared/platform/cloud) or
// shared/metrics/prom for a Prometheus-format /metrics page (the local
// run), per CONNECTORS_METRICS.
//
// The cache-hit token request must cost no more than before: a mint is
// counted in a Count, an atomic integer made once per series (its
// attribute set computed then) and kept by the caller beside what the
// series describes (mint.Service keeps the local-hit Count on its cached
// credential). Counting a hit is one atomic add; the SDK reads the counts
// when it collects (an observable counter), never on the request.
//
// Label cardinality stays bounded: connector names are made by admins,
// never by callers (a name no connector has is counted as "unknown"),
// outcomes are this service's error codes plus the RFC 6749 token error
// codes (anything else a provider says becomes upstream_error or
// upstream_unavailable), layers and grant types are fixed sets, and HTTP
// statuses are three digits. MaxMintSeries caps the mint series whatever
// happens: past it, new series are counted under connector "other".
package metrics

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"connectors.dev/connectors/shared/httpx"
)

// Instrument names, as Cloud Monitoring shows them after its
// workload.googleapis.com/ prefix (Prometheus: dots become underscores,
// counters end in _total, the histogram's unit is appended).
const (
	NameMints          = "connectors.mints"
	NameUpstreamTime   = "connectors.upstream.duration"
	NameProxyCalls     = "connectors.proxy.calls"
	NameFilesCalls     = "connectors.files.calls"
	NameNeedsReconnect = "connectors.credential.needs_reconnect"
)

// Label values used when the real one is unknown or capped.
const (
	Unknown = "unknown" // a connector name no connector has, a grant type not known
	Other   = "other"   // a mint series past MaxMintSeries
	OK      = "ok"
)

// MaxMintSeries bounds the mint series one process keeps (connector ×
// grant type × outcome × layer): ten times what a deployment of a few
// hundred connectors uses.
const MaxMintSeries = 10000

// Metrics is the set of instruments. Methods on a nil *Metrics do nothing.
type Metrics struct {
	upstream metric.Float64Histogram
	proxy    metric.Int64Counter
	files    metric.Int64Counter

	mu     sync.Mutex
	mints  map[mintKey]*Count
	needs  map[string]*needsEntry
	maxSer int
}

type mintKey struct{ connector, grant, outcome, layer string }

type needsEntry struct {
	set attribute.Set
	on  atomic.Bool
}

// Count is one mint series: an atomic count and the attribute set it is
// reported with. Inc on a nil *Count does nothing.
type Count struct {
	n   atomic.Int64
	set attribute.Set
}

// Inc counts one mint. It allocates nothing and takes no lock.
func (c *Count) Inc() {
	if c != nil {
		c.n.Add(1)
	}
}

// upstreamBuckets are the latency histogram's bounds, in seconds: token
// endpoints answer in tens to hundreds of milliseconds; the token timeout
// is a few seconds.
var upstreamBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New makes the instruments on m.
func New(m metric.Meter) (*Metrics, error) {
	x := &Metrics{mints: map[mintKey]*Count{}, needs: map[string]*needsEntry{}, maxSer: MaxMintSeries}
	mints, err := m.Int64ObservableCounter(NameMints, metric.WithUnit("{mint}"),
		metric.WithDescription("Credentials handed out (outcome ok) or refused, by connector, grant type, outcome (ok or the error code) and cache layer (local, shared, minted; none for a refusal)."))
	if err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", NameMints, err)
	}
	needs, err := m.Int64ObservableGauge(NameNeedsReconnect, metric.WithUnit("{connector}"),
		metric.WithDescription("1 while a connector's provider refuses its grant (invalid_grant: revoked or expired) so that an admin must connect it again, else 0, by connector."))
	if err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", NameNeedsReconnect, err)
	}
	if _, err := m.RegisterCallback(x.observe(mints, needs), mints, needs); err != nil {
		return nil, fmt.Errorf("metrics: callback: %w", err)
	}
	if x.upstream, err = m.Float64Histogram(NameUpstreamTime, metric.WithUnit("s"),
		metric.WithDescription("Time the provider's token endpoint took to answer a mint (each attempt), by connector and grant type."),
		metric.WithExplicitBucketBoundaries(upstreamBuckets...)); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", NameUpstreamTime, err)
	}
	if x.proxy, err = m.Int64Counter(NameProxyCalls, metric.WithUnit("{call}"),
		metric.WithDescription("API calls through the proxy and MCP call_api, by connector, op, status class and status (the API's, or the proxy's own refusal)")); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", NameProxyCalls, err)
	}
	if x.files, err = m.Int64Counter(NameFilesCalls, metric.WithUnit("{call}"),
		metric.WithDescription("files function calls, by operation, status class and status.")); err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", NameFilesCalls, err)
	}
	return x, nil
}

// observe reports every mint count and reconnect flag when the SDK
// collects.
func (x *Metrics) observe(mints metric.Int64ObservableCounter, needs metric.Int64ObservableGauge) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, c := range x.mints {
			o.ObserveInt64(mints, c.n.Load(), metric.WithAttributeSet(c.set))
		}
		for _, e := range x.needs {
			var v int64
			if e.on.Load() {
				v = 1
			}
			o.ObserveInt64(needs, v, metric.WithAttributeSet(e.set))
		}
		return nil
	}
}

// Mint returns the series of mints from connector (its grant type) with
// outcome and layer, made on first use; nil when x is nil. Callers on a
// hot path keep the *Count; others call Mint(…).Inc().
func (x *Metrics) Mint(connector, grantType, outcome, layer string) *Count {
	if x == nil {
		return nil
	}
	if connector == "" {
		connector = Unknown
	}
	if grantType == "" {
		grantType = Unknown
	}
	k := mintKey{connector, grantType, outcome, layer}
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.mints[k]; ok {
		return c
	}
	if len(x.mints) >= x.maxSer {
		k.connector = Other
		if c, ok := x.mints[k]; ok {
			return c
		}
	}
	c := &Count{set: attribute.NewSet(
		attribute.String("connector", k.connector), attribute.String("grant_type", k.grant),
		attribute.String("outcome", k.outcome), attribute.String("layer", k.layer),
	)}
	x.mints[k] = c
	return c
}

// NeedsReconnect sets whether connector needs an admin to connect it
// again (its provider answered invalid_grant), reported as 1 or 0 from
// then on. The minting service sets it from what its mints see; the
// connector's health state, when it knows better, may set it too.
func (x *Metrics) NeedsReconnect(connector string, needs bool) {
	if x == nil || connector == "" {
		return
	}
	x.mu.Lock()
	e, ok := x.needs[connector]
	if !ok {
		if !needs {
			x.mu.Unlock()
			return // never flagged: no series to keep
		}
		if len(x.needs) >= x.maxSer {
			x.mu.Unlock()
			return
		}
		e = &needsEntry{set: attribute.NewSet(attribute.String("connector", connector))}
		x.needs[connector] = e
	}
	x.mu.Unlock()
	e.on.Store(needs)
}

// Upstream records one call to a provider's token endpoint that took d.
func (x *Metrics) Upstream(ctx context.Context, connector, grantType string, d time.Duration) {
	if x == nil {
		return
	}
	x.upstream.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("connector", connector), attribute.String("grant_type", grantType)))
}

// ProxyCall counts one proxied API call of connector ("" when the call
// never reached a known connector) answered with status, made by op
// ("proxy", "mcp.call_api").
func (x *Metrics) ProxyCall(ctx context.Context, connector, op string, status int) {
	if x == nil {
		return
	}
	if connector == "" {
		connector = Unknown
	}
	x.proxy.Add(ctx, 1, metric.WithAttributes(
		attribute.String("connector", connector), attribute.String("op", op),
		attribute.String("status_class", StatusClass(status)), attribute.Int("status", status)))
}

// FilesCall counts one files operation answered with status.
func (x *Metrics) FilesCall(ctx context.Context, operation string, status int) {
	if x == nil {
		return
	}
	x.files.Add(ctx, 1, metric.WithAttributes(
		attribute.String("operation", operation),
		attribute.String("status_class", StatusClass(status)), attribute.Int("status", status)))
}

// StatusClass is "2xx" for 200 to 299, and so on; "other" outside 100–599.
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return Other
	}
	return strconv.Itoa(status/100) + "xx"
}

// tokenErrors are the RFC 6749 §5.2 error codes (and the two of §4.1.2.1 a
// token endpoint may also send), the only provider codes kept as outcomes:
// a provider's own codes could be anything.
var tokenErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"server_error": true, "temporarily_unavailable": true,
}

// Outcome names err for the mints series: "ok" for nil; the provider's
// RFC 6749 error code when it sent one (invalid_grant, invalid_client…);
// upstream_unavailable when it answered 5xx or 429 without one; else the
// wire code of the error (httpx.Map: not_found, upstream_timeout…), a
// fixed set.
func Outcome(err error) string {
	if err == nil {
		return OK
	}
	e := httpx.Map(err)
	if u := e.Upstream; u != nil {
		if tokenErrors[u.Error] {
			return u.Error
		}
		if u.Status >= 500 || u.Status == 429 {
			return "upstream_unavailable"
		}
	}
	return e.Code
}
