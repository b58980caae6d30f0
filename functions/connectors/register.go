package connectors

import (
	"context"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud/backend"
)

func init() {
	platform.Register([]string{FnCreate, FnList, FnGet, FnUpdate, FnDelete}, func() (map[string]http.HandlerFunc, error) {
		// The catalog alone: this group never mints (functions/probe does).
		p, err := backend.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return (&Server{Catalog: p.Catalog, Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
