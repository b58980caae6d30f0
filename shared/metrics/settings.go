package metrics

import (
	"fmt"
	"strings"
	"time"
)

// Mode is where metrics go (CONNECTORS_METRICS).
type Mode string

// The modes.
const (
	Off        Mode = "off"        // no instruments: a nil *Metrics
	Prometheus Mode = "prometheus" // a Prometheus-format /metrics page (the local run)
	GCM        Mode = "gcm"        // Cloud Monitoring, through Google's exporter (deployed)
)

// DefaultInterval is how often the Cloud Monitoring exporter sends; Cloud
// Monitoring accepts a point per series every 5 s at most, and bills by
// the point.
const DefaultInterval = 60 * time.Second

// Settings are the metrics settings.
type Settings struct {
	Mode     Mode
	Interval time.Duration
}

// SettingsFromEnv reads CONNECTORS_METRICS (def when unset) and
// CONNECTORS_METRICS_INTERVAL.
func SettingsFromEnv(getenv func(string) string, def Mode) (Settings, error) {
	s := Settings{Mode: def, Interval: DefaultInterval}
	switch v := Mode(strings.ToLower(strings.TrimSpace(getenv("CONNECTORS_METRICS")))); v {
	case "":
	case Off, Prometheus, GCM:
		s.Mode = v
	default:
		return Settings{}, fmt.Errorf("metrics: CONNECTORS_METRICS: %q is not one of off, prometheus, gcm", v)
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_METRICS_INTERVAL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			return Settings{}, fmt.Errorf("metrics: CONNECTORS_METRICS_INTERVAL: %q is not a duration of at least 5s (Cloud Monitoring's limit)", v)
		}
		s.Interval = d
	}
	return s, nil
}
