// Package cloud assembles what a deployed minting function runs on: the
// backends and catalog of shared/platform/cloud/backend, the shared token
// cache and the minting service. Functions build it in their
// platform.Register build func, on their first request; the admin functions
// that never mint build on backend alone, and the console on neither.
package cloud

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/metrics"
	"connectors.dev/connectors/shared/metrics/gcm"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud/backend"
	"connectors.dev/connectors/shared/tokencache"
)

// Platform is a deployed minting function's dependencies.
type Platform struct {
	*backend.Platform
	// Cache is the shared token cache: in Config.TokenCacheDatabase when
	// set, else beside the connectors in Store's database.
	Cache tokencache.Cache
	// Metrics is what the minting service counts in (CONNECTORS_METRICS:
	// gcm exports to Cloud Monitoring; off, the default, is nil).
	Metrics *metrics.Metrics
}

// FromEnv connects to the project's backends (backend.FromEnv) and its
// token cache.
func FromEnv(ctx context.Context, getenv func(string) string) (*Platform, error) {
	b, err := backend.FromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	var cache tokencache.Cache = b.Store.TokenCache()
	if db := b.Config.TokenCacheDatabase; db != "" {
		// Its own client: the connection is made on first use, so an
		// instance that never mints never dials it.
		cs, err := firestore.NewInDatabase(ctx, b.Config.Project, db)
		if err != nil {
			b.Store.Close()
			return nil, err
		}
		cs.CollectionPrefix = b.Config.CollectionPrefix
		cache = cs.TokenCache()
	}
	met, err := metricsFromEnv(ctx, getenv, b.Config.Project)
	if err != nil {
		b.Store.Close()
		return nil, err
	}
	return &Platform{Platform: b, Cache: cache, Metrics: met}, nil
}

// metricsFromEnv makes the instruments CONNECTORS_METRICS asks for: none,
// or Cloud Monitoring's exporter, flushed when Cloud Run's SIGTERM comes.
func metricsFromEnv(ctx context.Context, getenv func(string) string, project string) (*metrics.Metrics, error) {
	set, err := metrics.SettingsFromEnv(getenv, metrics.Off)
	if err != nil {
		return nil, err
	}
	switch set.Mode {
	case metrics.Off:
		return nil, nil
	case metrics.Prometheus:
		return nil, fmt.Errorf("metrics: CONNECTORS_METRICS: a deployed function exports to gcm (or off); prometheus is the local run's")
	}
	p, err := gcm.New(ctx, project, getenv("K_SERVICE"), set.Interval)
	if err != nil {
		return nil, err
	}
	gcm.FlushOnSignal(p)
	return p.Metrics, nil
}

// Minter returns a minting service over the platform; the token-cache key
// is provisioned by Terraform, never created here.
func (p *Platform) Minter() *mint.Service {
	s := mint.NewService(p.Catalog, p.Cache, mint.KeyProvisioned, p.Config)
	s.Metrics = p.Metrics
	return s
}

// Register registers the named minting functions (platform.Register),
// built from the platform FromEnv makes on the first request. A build
// error (a function's own bad setting) is answered as platform.Register
// answers any.
func Register(names []string, build func(p *Platform) (map[string]http.Handler, error)) {
	platform.Register(names, func() (map[string]http.Handler, error) {
		p, err := FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return build(p)
	})
}
