package token

import (
	"net/http"

	"connectors.dev/connectors/shared/platform"
)

func init() {
	platform.Register([]string{FnToken}, func(p *platform.Platform) map[string]http.HandlerFunc {
		return (&Server{Mint: p.Minter(), Auth: p.Auth, Log: p.Log}).Handlers()
	})
}
