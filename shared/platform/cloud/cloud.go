// Package cloud assembles what a deployed function runs on — Firestore,
// Secret Manager, ID-token verification, Cloud Logging, the minting
// service — from the environment Terraform sets. Functions build it in
// their platform.Register build func, on their first request; the console,
// which needs none of it, never links it.
package cloud

import (
	"context"
	"io"
	"log/slog"
	"os"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/tokencache"
)

// Platform is a deployed function's dependencies.
type Platform struct {
	Config  config.Config
	Auth    *auth.Authenticator
	Store   *firestore.Store
	Catalog *catalog.Catalog
	Log     *slog.Logger
	// Cache is the shared token cache: in Config.TokenCacheDatabase when
	// set, else beside the connectors in Store's database.
	Cache tokencache.Cache
}

// FromEnv connects to the project's Firestore and Secret Manager. The gRPC
// connections are made on first use, so a function that never reads
// secrets never dials Secret Manager.
func FromEnv(ctx context.Context, getenv func(string) string) (*Platform, error) {
	return fromEnv(ctx, getenv, os.Stdout)
}

// fromEnv is FromEnv logging to logs.
func fromEnv(ctx context.Context, getenv func(string) string, logs io.Writer) (*Platform, error) {
	log := logging.New(logs)
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	authCfg, err := auth.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	authn, err := auth.New(authCfg, nil)
	if err != nil {
		return nil, err
	}
	if authn.Unbound() {
		// Terraform refuses this unless allow_unbound_agents is set; a
		// deployment made otherwise should hear it too.
		log.Warn("unbound agents: " + auth.EnvAgentBindings + " is empty, so every agent principal may act for every agent ID " +
			"and a connector's agents list does not separate agent runtimes; bind agent IDs to principals (Terraform: agent_bindings)")
	}
	store, err := firestore.New(ctx, cfg.Project)
	if err != nil {
		return nil, err
	}
	store.CollectionPrefix = cfg.CollectionPrefix
	secrets, err := secretmanager.New(ctx, cfg.Project)
	if err != nil {
		store.Close()
		return nil, err
	}
	secrets.Prefix = cfg.SecretPrefix
	var cache tokencache.Cache = store.TokenCache()
	if cfg.TokenCacheDatabase != "" {
		// Its own client: the connection is made on first use, so the
		// functions that never mint never dial it.
		cs, err := firestore.NewInDatabase(ctx, cfg.Project, cfg.TokenCacheDatabase)
		if err != nil {
			store.Close()
			return nil, err
		}
		cs.CollectionPrefix = cfg.CollectionPrefix
		cache = cs.TokenCache()
	}
	return &Platform{
		Cache:  cache,
		Config: cfg,
		Auth:   authn,
		Store:  store,
		Catalog: &catalog.Catalog{
			Store:   store,
			Secrets: secrets,
			Options: connector.Options{AllowInsecureURLs: cfg.AllowInsecureURLs},
			Log:     log,
		},
		Log: log,
	}, nil
}

// Minter returns a minting service over the platform; the token-cache key
// is provisioned by Terraform, never created here.
func (p *Platform) Minter() *mint.Service {
	return mint.NewService(p.Catalog, p.Cache, false, p.Config)
}
