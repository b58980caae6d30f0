package files

import (
	"net/http"
	"os"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/platform"
)

func init() {
	platform.Register([]string{FnFiles}, func(p *platform.Platform) map[string]http.HandlerFunc {
		opts, err := OptionsFromEnv(os.Getenv)
		if err != nil {
			// The platform built fine; only this function's settings are
			// wrong. Say so on every call rather than guess.
			p.Log.Error("start files: " + err.Error())
			return map[string]http.HandlerFunc{FnFiles: func(w http.ResponseWriter, r *http.Request) {
				httpx.WriteError(w, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the function is misconfigured or its backends are unreachable"))
			}}
		}
		return (&Server{Mint: p.Minter(), Auth: p.Auth, Log: p.Log, Options: opts}).Handlers()
	})
}
