package gcm

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/label"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"connectors.dev/connectors/shared/metrics"
)

// monitoring is Cloud Monitoring's metric service as far as the exporter
// uses it, on loopback gRPC (no emulator exists): it keeps descriptors,
// and refuses a time series with a label its descriptor does not declare,
// as Cloud Monitoring does.
type monitoring struct {
	monitoringpb.UnimplementedMetricServiceServer
	mu      sync.Mutex
	descs   map[string]*metricpb.MetricDescriptor
	created []string
	series  []*monitoringpb.TimeSeries
	refused []string
}

func (m *monitoring) GetMetricDescriptor(_ context.Context, r *monitoringpb.GetMetricDescriptorRequest) (*metricpb.MetricDescriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.descs[r.Name[strings.Index(r.Name, "/metricDescriptors/")+len("/metricDescriptors/"):]]; ok {
		return d, nil
	}
	return nil, status.Error(codes.NotFound, "no such descriptor")
}

func (m *monitoring) CreateMetricDescriptor(_ context.Context, r *monitoringpb.CreateMetricDescriptorRequest) (*metricpb.MetricDescriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.descs[r.MetricDescriptor.Type] = r.MetricDescriptor
	m.created = append(m.created, r.MetricDescriptor.Type)
	return r.MetricDescriptor, nil
}

func (m *monitoring) CreateTimeSeries(_ context.Context, r *monitoringpb.CreateTimeSeriesRequest) (*emptypb.Empty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ts := range r.TimeSeries {
		d, ok := m.descs[ts.Metric.Type]
		if !ok {
			m.refused = append(m.refused, ts.Metric.Type+": no descriptor")
			continue
		}
		for k := range ts.Metric.Labels {
			if !slices.ContainsFunc(d.Labels, func(l *label.LabelDescriptor) bool { return l.Key == k }) {
				m.refused = append(m.refused, fmt.Sprintf("%s: label %s not in its descriptor", ts.Metric.Type, k))
			}
		}
		m.series = append(m.series, ts)
	}
	if len(m.refused) > 0 {
		return nil, status.Error(codes.InvalidArgument, strings.Join(m.refused, "; "))
	}
	return &emptypb.Empty{}, nil
}

func (m *monitoring) CreateServiceTimeSeries(ctx context.Context, r *monitoringpb.CreateTimeSeriesRequest) (*emptypb.Empty, error) {
	return m.CreateTimeSeries(ctx, r)
}

// TestExportToCloudMonitoring: Shutdown (what SIGTERM runs) sends the
// counts; mints go to the descriptor Terraform made (connector, grant_type,
// outcome, layer, and nothing else: no resource attribute becomes a metric
// label), on a generic_task resource naming the service and this instance;
// the other metrics' descriptors are made by the exporter.
func TestExportToCloudMonitoring(t *testing.T) {
	mon := &monitoring{descs: map[string]*metricpb.MetricDescriptor{}}
	mints := "workload.googleapis.com/" + metrics.NameMints
	mon.descs[mints] = &metricpb.MetricDescriptor{Type: mints, MetricKind: metricpb.MetricDescriptor_CUMULATIVE, ValueType: metricpb.MetricDescriptor_INT64}
	for _, k := range []string{"connector", "grant_type", "outcome", "layer"} { // as terraform/metrics.tf declares them
		mon.descs[mints].Labels = append(mon.descs[mints].Labels, &label.LabelDescriptor{Key: k})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	monitoringpb.RegisterMetricServiceServer(srv, mon)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	ctx := context.Background()
	p, err := New(ctx, "connectors-test", "token", time.Hour,
		option.WithEndpoint(lis.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	p.Metrics.Mint("Mail", "refresh_token", metrics.OK, "local").Inc()
	p.Metrics.Mint("Mail", "refresh_token", "invalid_grant", "none").Inc()
	p.Metrics.Upstream(ctx, "Mail", "refresh_token", 120*time.Millisecond)
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown (the last export): %v", err)
	}

	mon.mu.Lock()
	defer mon.mu.Unlock()
	if len(mon.refused) > 0 {
		t.Fatalf("Cloud Monitoring would refuse: %v", mon.refused)
	}
	if slices.Contains(mon.created, mints) {
		t.Error("the exporter made the mints descriptor again; Terraform's should be used as it is")
	}
	if !slices.Contains(mon.created, "workload.googleapis.com/"+metrics.NameUpstreamTime) {
		t.Errorf("descriptors made: %v, want the upstream latency's", mon.created)
	}
	var got []string
	for _, ts := range mon.series {
		if ts.Metric.Type != mints {
			continue
		}
		r := ts.Resource
		if r.Type != "generic_task" || r.Labels["job"] != "token" || r.Labels["namespace"] != "connectors" || r.Labels["task_id"] == "" {
			t.Errorf("resource %v, want generic_task with job token, namespace connectors and a task_id", r)
		}
		got = append(got, fmt.Sprintf("%s/%s/%s/%s=%d", ts.Metric.Labels["connector"], ts.Metric.Labels["grant_type"],
			ts.Metric.Labels["outcome"], ts.Metric.Labels["layer"], ts.Points[0].Value.GetInt64Value()))
	}
	sort.Strings(got)
	if want := []string{"Mail/refresh_token/invalid_grant/none=1", "Mail/refresh_token/ok/local=1"}; !slices.Equal(got, want) {
		t.Errorf("mints sent %v, want %v", got, want)
	}
}
