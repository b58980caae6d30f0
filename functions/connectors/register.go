package connectors

import (
	"net/http"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/platform/cloud/backend"
)

func init() {
	// The catalog alone: this group never mints (functions/probe does).
	backend.Register([]string{FnCreate, FnList, FnGet, FnUpdate, FnDelete}, func(p *backend.Platform) map[string]http.Handler {
		return (&Server{Catalog: p.Catalog, Auth: p.Auth, Log: p.Log, Discover: NewDiscoverer(p.Config)}).Handlers()
	})
}

// NewDiscoverer fetches issuers' metadata through the guarded client,
// under the same address policy and timeouts as token requests.
func NewDiscoverer(cfg config.Config) *oauth.Discoverer {
	return &oauth.Discoverer{HTTP: outbound.NewClient(outbound.Options{
		Policy:         netguard.Policy{AllowLoopback: cfg.AllowInsecureURLs, AllowPrivate: cfg.AllowPrivateNetworks},
		ConnectTimeout: cfg.TokenConnectTimeout,
		Timeout:        cfg.TokenTimeout,
	})}
}
