package mcp

import (
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	cloud.Register([]string{FnMCP}, func(p *cloud.Platform) (map[string]http.HandlerFunc, error) {
		opts, err := OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		fileOpts, err := files.OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("mcp: %w", err)
		}
		m := p.Minter()
		return (&Server{Mint: m, Auth: p.Auth, Log: p.Log, Options: opts,
			Files: &files.Server{Mint: m, Auth: p.Auth, Log: p.Log, Options: fileOpts},
			// TODO(proxy): Proxy: &proxy.Service{Mint: m, ...} once shared/proxy lands.
		}).Handlers(), nil
	})
}
