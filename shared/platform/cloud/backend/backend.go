// Package backend connects a deployed function to the project's backends —
// Firestore, Secret Manager, ID-token verification, Cloud Logging, and the
// events' Pub/Sub topic and webhook when set (events.go) — from the
// environment Terraform sets, and assembles the connector catalog over them.
// It links no minting (no provider SDK): the admin functions that only read
// and write connectors build on it alone, and shared/platform/cloud adds the
// token cache and the minting service for the functions that mint.
package backend

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/secret/secretmanager"
)

// Platform is a deployed function's backends and the catalog over them.
type Platform struct {
	Config  config.Config
	Auth    *auth.Authenticator
	Store   *firestore.Store
	Catalog *catalog.Catalog
	// Events delivers the connectors' outbox (nil: events off); the
	// catalog kicks it after each mutation, and whatever drains on a
	// schedule may call its Drain.
	Events *events.Relay
	Log    *slog.Logger
}

// FromEnv connects to the project's Firestore and Secret Manager. The gRPC
// connections are made on first use, so a function that never reads
// secrets never dials Secret Manager.
func FromEnv(ctx context.Context, getenv func(string) string) (*Platform, error) {
	// Log lines (an audit line per request) are batched, at most
	// logging.FlushDelay old, and flushed when Cloud Run sends SIGTERM.
	out := logging.NewBuffered(os.Stdout)
	logging.FlushOnSignal(out)
	return fromEnv(ctx, getenv, out)
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
	relay, err := eventsFromEnv(getenv, cfg, store, secrets, log)
	if err != nil {
		store.Close()
		secrets.Close()
		return nil, err
	}
	cat := &catalog.Catalog{
		Store:   store,
		Secrets: secrets,
		Options: connector.Options{AllowInsecureURLs: cfg.AllowInsecureURLs},
		Log:     log,
	}
	if relay != nil { // never a typed nil in the interface
		cat.Events = relay
	}
	return &Platform{Config: cfg, Auth: authn, Store: store, Catalog: cat, Events: relay, Log: log}, nil
}

// Register registers the named functions (platform.Register), built from
// the backends FromEnv makes on the first request.
func Register(names []string, build func(p *Platform) map[string]http.Handler) {
	platform.Register(names, func() (map[string]http.Handler, error) {
		p, err := FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return build(p), nil
	})
}
