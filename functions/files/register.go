package files

import (
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	cloud.Register([]string{FnFiles}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		opts, err := OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		m := p.Minter()
		// Its service account only reads the connectors' database
		// (terraform/main.tf): it records no health.
		m.SkipHealth = true
		return (&Server{Mint: m, Auth: p.Auth, Log: p.Log, Options: opts}).Handlers(), nil
	})
}
