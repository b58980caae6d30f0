// Package platform registers the deployed functions with the Functions
// Framework so that each is built on its first request, not in init():
// every deployed function runs every registered package's init() at cold
// start. It links no backend: a function's build func makes what it needs
// (most from shared/platform/cloud; the console from its settings alone).
package platform

import (
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
)

// Register registers each named function. build runs once, on the first
// request to any of them, and returns the handlers by name; each is served
// under the configured request deadline (httpx.WithDeadline). A build that
// fails (a bad setting, an unreachable backend) is logged and answered 503
// on every request, and tried again on none: the instance is misconfigured.
func Register(names []string, build func() (map[string]http.Handler, error)) {
	handlers := sync.OnceValues(func() (map[string]http.Handler, error) {
		timeout, err := config.RequestTimeoutFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		hs, err := build()
		if err != nil {
			return nil, err
		}
		for name, h := range hs {
			// A backend that does not answer ends the request as 503
			// before the platform's own timeout does.
			hs[name] = httpx.WithDeadline(h, timeout)
		}
		return hs, nil
	})
	for _, name := range names {
		functions.HTTP(name, func(w http.ResponseWriter, r *http.Request) {
			hs, err := handlers()
			if err != nil {
				logging.New(os.Stderr).Error("start " + name + ": " + err.Error())
				httpx.WriteError(w, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "the function is misconfigured or its backends are unreachable; see its logs"))
				return
			}
			hs[name].ServeHTTP(w, r)
		})
	}
}
