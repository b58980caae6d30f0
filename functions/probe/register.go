package probe

import (
	"net/http"

	"connectors.dev/connectors/shared/platform/cloud"
)

func init() {
	// It mints, so its deployment is granted what the token function has
	// (secret access, the token cache, egress).
	cloud.Register([]string{FnTest}, func(p *cloud.Platform) (map[string]http.Handler, error) {
		return (&Server{Tester: p.Minter(), Auth: p.Auth, Log: p.Log}).Handlers(), nil
	})
}
