package console

import (
	"net/http"
	"os"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/platform"
)

func init() {
	platform.Register([]string{FnConsole}, func(p *platform.Platform) map[string]http.HandlerFunc {
		// The console reads nothing from the platform's backends: it serves
		// a page whose API calls go, with the admin's credentials, to the
		// admin functions named by the environment.
		cfg, err := ConfigFromEnv(os.Getenv)
		if err == nil {
			var s *Server
			if s, err = New(cfg); err == nil {
				return s.Handlers()
			}
		}
		p.Log.Error("console misconfigured: " + err.Error())
		return map[string]http.HandlerFunc{FnConsole: func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the console is misconfigured (%s or %s); see its logs", EnvBaseURL, EnvFunctionURLs))
		}}
	})
}
