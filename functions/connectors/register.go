package connectors

import (
	"net/http"

	"connectors.dev/connectors/shared/platform"
)

func init() {
	platform.Register([]string{FnCreate, FnList, FnGet, FnUpdate, FnDelete, FnTest}, func(p *platform.Platform) map[string]http.HandlerFunc {
		// Only connectors-test mints; its deployment grants what the token
		// function has (secret access, the token cache, egress).
		return (&Server{Catalog: p.Catalog, Auth: p.Auth, Log: p.Log, Tester: p.Minter()}).Handlers()
	})
}
