package mcp

import (
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/platform/cloud"
	"connectors.dev/connectors/shared/proxy"
)

func init() {
	cloud.Register([]string{FnMCP}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		opts, err := OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		limits, err := proxy.LimitsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		fileOpts, err := files.OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("mcp: %w", err)
		}
		m := p.Minter()
		// One minting service under both, so call_api and the file tools
		// share its caches.
		opts.MaxCallDuration = limits.MaxDuration
		return (&Server{Mint: m, Auth: p.Auth, Log: p.Log, Options: opts,
			Proxy: proxy.NewService(m, p.Config, limits, p.Log),
			Files: &files.Server{Mint: m, Auth: p.Auth, Log: p.Log, Options: fileOpts},
		}).Handlers(), nil
	})
}
