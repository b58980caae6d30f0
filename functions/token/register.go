package token

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

// production is built on the first request, never in init().
var production = sync.OnceValues(func() (*Server, error) {
	return NewProduction(context.Background(), os.Getenv)
})

func init() {
	functions.HTTP(FnToken, func(w http.ResponseWriter, r *http.Request) {
		s, err := production()
		if err != nil {
			httpx.WriteError(w, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the function is misconfigured or its backends are unreachable"))
			logging.New(os.Stderr).Error("token: start: " + err.Error())
			return
		}
		s.Token(w, r)
	})
}

// NewProduction builds the token function on Firestore and Secret Manager
// from the environment.
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
	secrets, err := secretmanager.New(ctx, cfg.Project)
	if err != nil {
		store.Close()
		return nil, err
	}
	secrets.Prefix = cfg.SecretPrefix
	log := logging.New(os.Stdout)
	svc := mint.NewService(&catalog.Catalog{Store: store, Secrets: secrets, Options: connector.Options{AllowInsecureURLs: cfg.AllowInsecureURLs}, Log: log},
		store.TokenCache(), false, cfg)
	return &Server{Mint: svc, Auth: authn, Log: log}, nil
}
