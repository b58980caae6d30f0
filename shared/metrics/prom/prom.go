// Package prom serves the instruments of shared/metrics as a
// Prometheus-format page, for the local run's /metrics: an OpenTelemetry
// SDK meter provider read by the Prometheus exporter into a registry of
// its own (never the process-wide default one).
package prom

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"connectors.dev/connectors/shared/metrics"
)

// Provider is the instruments and the page that shows them.
type Provider struct {
	Metrics *metrics.Metrics
	// Handler serves the page (text exposition format); it reads the
	// counts when asked, so it costs nothing between scrapes.
	Handler  http.Handler
	provider *sdkmetric.MeterProvider
}

// New makes the instruments over a Prometheus exporter.
func New() (*Provider, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m, err := metrics.New(mp.Meter("connectors.dev/connectors"))
	if err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, err
	}
	return &Provider{
		Metrics:  m,
		Handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		provider: mp,
	}, nil
}

// Shutdown stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.provider.Shutdown(ctx)
}
