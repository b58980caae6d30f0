package proxy

import (
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform/cloud"
	"connectors.dev/connectors/shared/proxy"
)

func init() {
	cloud.Register([]string{FnProxy}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		limits, err := proxy.LimitsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		svc := proxy.NewService(p.Minter(), p.Config, limits, p.Log)
		return (&Server{Proxy: svc, Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
