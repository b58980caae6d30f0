package files

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	platform.Register([]string{FnFiles}, func() (map[string]http.HandlerFunc, error) {
		opts, err := OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		p, err := cloud.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return (&Server{Mint: p.Minter(), Auth: p.Auth, Log: p.Log, Options: opts}).Handlers(), nil
	})
}
