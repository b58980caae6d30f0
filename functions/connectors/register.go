package connectors

import (
	"net/http"

	"connectors.dev/connectors/shared/platform/cloud/backend"
)

func init() {
	// The catalog alone: this group never mints (functions/probe does).
	backend.Register([]string{FnCreate, FnList, FnGet, FnUpdate, FnDelete}, func(p *backend.Platform) map[string]http.HandlerFunc {
		return (&Server{Catalog: p.Catalog, Auth: p.Auth, Log: p.Log}).Handlers()
	})
}
