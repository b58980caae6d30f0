package token

import (
	"context"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	platform.Register([]string{FnToken}, func() (map[string]http.HandlerFunc, error) {
		p, err := cloud.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return (&Server{Mint: p.Minter(), Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
