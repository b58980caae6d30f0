package maintenance

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"connectors.dev/connectors/shared/platform/cloud"
)

// EnvIdleRefresh is Server.IdleRefresh, a Go duration.
const EnvIdleRefresh = "CONNECTORS_MAINTENANCE_IDLE_REFRESH"

func init() {
	// It mints (refreshes and probes) and sweeps secrets: its deployment
	// is granted what the token function has, and the sweep's deletes.
	cloud.Register([]string{FnMaintenance}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		idle, err := IdleRefreshFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		s := &Server{Catalog: p.Catalog, Tester: p.Minter(), Auth: p.Auth, Log: p.Log, IdleRefresh: idle}
		if p.Events != nil { // a nil *events.Relay in the interface would not be nil
			s.Outbox = p.Events
		}
		return s.Handlers(), nil
	})
}

// IdleRefreshFromEnv reads EnvIdleRefresh: unset is DefaultIdleRefresh;
// otherwise a Go duration of at least an hour.
func IdleRefreshFromEnv(getenv func(string) string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(EnvIdleRefresh))
	if v == "" {
		return DefaultIdleRefresh, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("maintenance: %s must be a Go duration of at least 1h, such as 168h, not %q", EnvIdleRefresh, v)
	}
	return d, nil
}
