package probe

import (
	"context"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	platform.Register([]string{FnTest}, func() (map[string]http.HandlerFunc, error) {
		p, err := cloud.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		// It mints, so its deployment is granted what the token function
		// has (secret access, the token cache, egress).
		return (&Server{Tester: p.Minter(), Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
