package connectors

import (
	"context"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	platform.Register([]string{FnCreate, FnList, FnGet, FnUpdate, FnDelete, FnTest}, func() (map[string]http.HandlerFunc, error) {
		p, err := cloud.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		// Only connectors-test mints; its deployment grants what the token
		// function has (secret access, the token cache, egress).
		return (&Server{Catalog: p.Catalog, Auth: p.Auth, Log: p.Log, Tester: p.Minter()}).Handlers(), nil
	})
}
