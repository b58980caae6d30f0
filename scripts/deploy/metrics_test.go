package deploy

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"connectors.dev/connectors/shared/metrics"
)

const workload = "workload.googleapis.com/"

// TestPlanMonitorsMints: the plan makes the Connectors dashboard (mint
// rate by outcome, the provider's latency, the proxy's statuses), the two
// alert policies (a connector's mint failure ratio over the threshold, a
// connector needing a reconnect) notifying the configured channels, the
// descriptors of the alerted metrics exactly as shared/metrics writes
// them, roles/monitoring.metricWriter for the minting functions only, and
// CONNECTORS_METRICS=gcm on exactly those.
func TestPlanMonitorsMints(t *testing.T) {
	p := loadPlan(t)
	var threshold float64
	var channels []string
	for name, dst := range map[string]any{"alert_mint_failure_ratio": &threshold, "alert_notification_channels": &channels} {
		raw, ok := p.Variables[name]
		if !ok {
			t.Fatalf("the plan has no variable %s", name)
		}
		if err := json.Unmarshal(raw.Value, dst); err != nil {
			t.Fatalf("variable %s: %v", name, err)
		}
	}
	byType := map[string][]map[string]any{}
	for _, rc := range p.ResourceChanges {
		if rc.Change.After != nil && !slices.Equal(rc.Change.Actions, []string{"delete"}) {
			byType[rc.Type] = append(byType[rc.Type], rc.Change.After)
		}
	}

	// The dashboard.
	dashboards := byType["google_monitoring_dashboard"]
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards planned, want 1", len(dashboards))
	}
	var dash struct {
		MosaicLayout struct {
			Tiles []struct {
				Widget struct {
					XYChart struct {
						DataSets []struct {
							TimeSeriesQuery struct {
								TimeSeriesFilter struct {
									Filter      string `json:"filter"`
									Aggregation struct {
										GroupByFields []string `json:"groupByFields"`
									} `json:"aggregation"`
								} `json:"timeSeriesFilter"`
							} `json:"timeSeriesQuery"`
						} `json:"dataSets"`
					} `json:"xyChart"`
				} `json:"widget"`
			} `json:"tiles"`
		} `json:"mosaicLayout"`
	}
	if err := json.Unmarshal([]byte(str(dashboards[0], "dashboard_json")), &dash); err != nil {
		t.Fatalf("dashboard_json: %v", err)
	}
	charts := map[string]bool{} // "metric by labels"
	for _, tile := range dash.MosaicLayout.Tiles {
		for _, ds := range tile.Widget.XYChart.DataSets {
			f := ds.TimeSeriesQuery.TimeSeriesFilter
			for _, name := range []string{metrics.NameMints, metrics.NameUpstreamTime, metrics.NameProxyCalls, metrics.NameFilesCalls, metrics.NameNeedsReconnect} {
				if strings.Contains(f.Filter, `metric.type = "`+workload+name+`"`) {
					charts[name+" by "+strings.Join(f.Aggregation.GroupByFields, ",")] = true
				}
			}
		}
	}
	for _, want := range []string{
		metrics.NameMints + " by metric.label.outcome",
		metrics.NameUpstreamTime + " by metric.label.connector",
		metrics.NameProxyCalls + " by metric.label.status_class",
	} {
		if !charts[want] {
			t.Errorf("the dashboard has no chart of %s; it has %v", want, charts)
		}
	}

	// The alert policies.
	var ratio, reconnect bool
	for _, a := range byType["google_monitoring_alert_policy"] {
		if got := strs(a["notification_channels"]); !slices.Equal(got, channels) && !(len(got) == 0 && len(channels) == 0) {
			t.Errorf("alert %q notifies %v, want alert_notification_channels %v", str(a, "display_name"), got, channels)
		}
		conds, _ := a["conditions"].([]any)
		for _, c := range conds {
			th := block(c.(map[string]any), "condition_threshold")
			if th == nil {
				continue
			}
			filter, denom := str(th, "filter"), str(th, "denominator_filter")
			value, _ := th["threshold_value"].(float64)
			switch {
			case strings.Contains(filter, workload+metrics.NameMints) && strings.Contains(denom, workload+metrics.NameMints) &&
				strings.Contains(filter, "NOT metric.labels.outcome = one_of(") && strings.Contains(filter, `"ok"`) &&
				str(th, "comparison") == "COMPARISON_GT" && value == threshold:
				ratio = true
			case strings.Contains(filter, workload+metrics.NameNeedsReconnect) && str(th, "comparison") == "COMPARISON_GT" && value == 0:
				reconnect = true
			}
		}
	}
	if !ratio {
		t.Errorf("no alert policy on the mints' failure ratio (failures over all mints, above alert_mint_failure_ratio %v)", threshold)
	}
	if !reconnect {
		t.Error("no alert policy on connectors needing a reconnect (> 0)")
	}

	// The alerted metrics' descriptors are what the exporter writes.
	written := writtenDescriptors(t)
	planned := map[string]string{}
	for _, d := range byType["google_monitoring_metric_descriptor"] {
		var keys []string
		labels, _ := d["labels"].([]any)
		for _, l := range labels {
			keys = append(keys, str(l.(map[string]any), "key"))
		}
		sort.Strings(keys)
		planned[str(d, "type")] = str(d, "metric_kind") + " " + str(d, "value_type") + " " + strings.Join(keys, ",")
	}
	for _, name := range []string{metrics.NameMints, metrics.NameNeedsReconnect} {
		if got, want := planned[workload+name], written[name]; got != want {
			t.Errorf("descriptor %s%s: planned %q, the exporter writes %q", workload, name, got, want)
		}
	}

	// Who writes metrics, and who is told to.
	fns, _, _, grants, _, _ := p.scan()
	var writers []string
	for _, g := range grants {
		if g.role != "roles/monitoring.metricWriter" {
			continue
		}
		if g.scope != "project" || g.condition != "" {
			t.Errorf("%s: metricWriter should be an unconditioned project grant", g.addr)
		}
		for _, m := range g.members {
			writers = append(writers, functionOf(fns, m))
		}
	}
	sort.Strings(writers)
	if !slices.Equal(writers, minting) {
		t.Errorf("roles/monitoring.metricWriter for %v, want the minting functions %v", writers, minting)
	}
	for name, f := range fns {
		want := ""
		if slices.Contains(minting, name) {
			want = "gcm"
		}
		if got := f.env["CONNECTORS_METRICS"]; got != want {
			t.Errorf("%s: CONNECTORS_METRICS=%q, want %q", name, got, want)
		}
	}
}

// functionOf names the function whose service account member is.
func functionOf(fns map[string]function, member string) string {
	for name, f := range fns {
		if "serviceAccount:"+f.serviceAccount == member {
			return name
		}
	}
	return member
}

// writtenDescriptors records one point of each instrument through
// shared/metrics and returns, by name, "KIND VALUE_TYPE label,…" as Cloud
// Monitoring's exporter would describe it.
func writtenDescriptors(t *testing.T) map[string]string {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer mp.Shutdown(context.Background())
	m, err := metrics.New(mp.Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	m.Mint("Mail", "refresh_token", metrics.OK, "local").Inc()
	m.NeedsReconnect("Mail", true)
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			var kind string
			var keys []string
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				kind = "GAUGE INT64" // a non-monotonic sum is a gauge to the exporter
				if d.IsMonotonic && d.Temporality == metricdata.CumulativeTemporality {
					kind = "CUMULATIVE INT64"
				}
				for _, kv := range d.DataPoints[0].Attributes.ToSlice() {
					keys = append(keys, string(kv.Key))
				}
			case metricdata.Gauge[int64]:
				kind = "GAUGE INT64"
				for _, kv := range d.DataPoints[0].Attributes.ToSlice() {
					keys = append(keys, string(kv.Key))
				}
			default:
				continue
			}
			sort.Strings(keys)
			out[md.Name] = kind + " " + strings.Join(keys, ",")
		}
	}
	return out
}
