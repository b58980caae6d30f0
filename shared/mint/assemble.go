package mint

import (
	"crypto/rand"
	"os"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/tokencache"
)

// KeySource says where the token-cache key comes from.
type KeySource uint8

const (
	// KeyProvisioned: a deployment's key, which Terraform provisions; a
	// missing key is an error, never made here.
	KeyProvisioned KeySource = iota
	// KeyCreatedOnFirstUse: the local run and tests, which generate the
	// key the first time they need it.
	KeyCreatedOnFirstUse
)

// NewService assembles a Service for a deployment or the local run.
func NewService(cat *catalog.Catalog, cache tokencache.Cache, keys KeySource, cfg config.Config) *Service {
	// One guarded client for every outbound token request, whatever the
	// grant type: the cloud minters reach connector-supplied endpoints too
	// (a key's token_uri, an STS url).
	hc := outbound.NewClient(outbound.Options{
		Policy:         netguard.Policy{AllowLoopback: cfg.AllowInsecureURLs, AllowPrivate: cfg.AllowPrivateNetworks},
		ConnectTimeout: cfg.TokenConnectTimeout,
		Timeout:        cfg.TokenTimeout,
	})
	client := &oauth.Client{HTTP: hc, DefaultLifetime: cfg.DefaultTokenLifetime}
	s := &Service{
		Catalog: cat,
		Cache:   cache,
		Sealer:  &Sealer{Secrets: cat.Secrets, Create: keys == KeyCreatedOnFirstUse, Versions: cfg.TokenCacheKeyVersions},
		OAuth:   OAuth{Client: client},
		ByGrant: map[string]Minter{
			connector.GrantGCSServiceAccount: &Google{HTTP: hc, DefaultLifetime: cfg.DefaultTokenLifetime},
			connector.GrantAWSIAM:            &AWS{HTTP: hc},
		},
		Instance: instanceID(),
		Log:      cat.Log,
	}
	cat.Watch(s.Forget)
	return s
}

// instanceID names this process as a lease holder.
func instanceID() string {
	host, _ := os.Hostname()
	return host + "-" + rand.Text()[:8]
}
