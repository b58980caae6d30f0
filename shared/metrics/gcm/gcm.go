// Package gcm exports the instruments of shared/metrics to Cloud
// Monitoring with Google's OpenTelemetry exporter, as
// workload.googleapis.com/connectors.* metrics on a generic_task resource
// (namespace "connectors", job the Cloud Run service, task_id this
// instance), so that instances never write the same time series.
//
// It is made in a deployed function's build (its first request), never in
// init(); a periodic reader sends every CONNECTORS_METRICS_INTERVAL, and
// FlushOnSignal sends what is counted when Cloud Run's SIGTERM announces
// the instance's end, as logging.FlushOnSignal does for log lines.
package gcm

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	mexporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/metrics"
)

// Provider is the instruments and what exports them.
type Provider struct {
	Metrics  *metrics.Metrics
	provider *sdkmetric.MeterProvider
}

// New makes the instruments over Cloud Monitoring's exporter for project;
// service names the Cloud Run service (K_SERVICE). client, for tests,
// points the exporter's client elsewhere.
func New(ctx context.Context, project, service string, interval time.Duration, client ...option.ClientOption) (*Provider, error) {
	if project == "" {
		return nil, fmt.Errorf("metrics: gcm needs GOOGLE_CLOUD_PROJECT")
	}
	// No resource attribute becomes a metric label: the instance is the
	// resource's task_id already, and the metrics' labels are exactly the
	// ones Terraform declares for the alerted descriptors (metrics.tf).
	exp, err := mexporter.New(mexporter.WithProjectID(project), mexporter.WithContext(ctx),
		mexporter.WithFilteredResourceAttributes(mexporter.NoAttributes),
		mexporter.WithMonitoringClientOptions(client...))
	if err != nil {
		return nil, fmt.Errorf("metrics: cloud monitoring exporter: %w", err)
	}
	if service == "" {
		service = "connectors"
	}
	host, _ := os.Hostname()
	res := resource.NewSchemaless(
		attribute.String("service.namespace", "connectors"),
		attribute.String("service.name", service),
		attribute.String("service.instance.id", host+"-"+rand.Text()[:8]),
	)
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))),
	)
	m, err := metrics.New(mp.Meter("connectors.dev/connectors"))
	if err != nil {
		_ = mp.Shutdown(ctx)
		return nil, err
	}
	return &Provider{Metrics: m, provider: mp}, nil
}

// Shutdown sends what is counted and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.provider.Shutdown(ctx)
}

// shutdownTimeout bounds the last export: Cloud Run leaves 10 s between
// SIGTERM and SIGKILL.
const shutdownTimeout = 5 * time.Second

// FlushOnSignal sends what p counted when the process receives SIGTERM or
// SIGINT, then lets the signal do what it did before (its handler removed,
// the signal sent again), as logging.FlushOnSignal does.
func FlushOnSignal(p *Provider) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	go func() {
		sig := <-ch
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		_ = p.Shutdown(ctx)
		cancel()
		signal.Stop(ch)
		if proc, err := os.FindProcess(os.Getpid()); err == nil {
			_ = proc.Signal(sig)
		}
	}()
}
