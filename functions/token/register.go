package token

import (
	"net/http"

	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	cloud.Register([]string{FnToken}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		return (&Server{Mint: p.Minter(), Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
