package connectors

import (
	"context"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/secret/secretmanager"
)

// production is built on the first request, not in init(): every deployed
// function runs every registered package's init() at cold start.
var production = sync.OnceValues(func() (*Server, error) {
	return NewProduction(context.Background(), os.Getenv)
})

func init() {
	for _, name := range []string{FnCreate, FnList, FnGet, FnUpdate, FnDelete, FnTest} {
		functions.HTTP(name, func(w http.ResponseWriter, r *http.Request) {
			s, err := production()
			if err != nil {
				httpx.WriteError(w, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the function is misconfigured or its backends are unreachable"))
				logging.New(os.Stderr).Error("connectors: start: " + err.Error())
				return
			}
			s.Handlers()[name](w, r)
		})
	}
}

// NewProduction builds a Server on Firestore and Secret Manager from the
// environment (see config.FromEnv and auth.ConfigFromEnv).
func NewProduction(ctx context.Context, getenv func(string) string) (*Server, error) {
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
	store, err := firestore.New(ctx, cfg.Project)
	if err != nil {
		return nil, err
	}
	store.CollectionPrefix = cfg.CollectionPrefix
	// The gRPC connection is made on the first call, so list and get, which
	// never read secrets, never dial Secret Manager.
	secrets, err := secretmanager.New(ctx, cfg.Project)
	if err != nil {
		store.Close()
		return nil, err
	}
	secrets.Prefix = cfg.SecretPrefix
	log := logging.New(os.Stdout)
	cat := &catalog.Catalog{
		Store:   store,
		Secrets: secrets,
		Options: connector.Options{AllowInsecureURLs: cfg.AllowInsecureURLs},
		Log:     log,
	}
	return &Server{
		Catalog: cat,
		Auth:    authn,
		Log:     log,
		// Only connectors-test mints; its deployment grants what the token
		// function has (secret access, the token cache, egress).
		Tester: mint.NewService(cat, store.TokenCache(), false, cfg),
	}, nil
}
