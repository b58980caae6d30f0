package console

import (
	"fmt"
	"net/http"
	"os"

	"connectors.dev/connectors/shared/platform"
)

func init() {
	// The console reads nothing from the backends: it serves a page whose
	// API calls go, with the admin's credentials, to the admin functions
	// named by the environment. So it builds from its settings alone, and
	// links no storage or secret client.
	platform.Register([]string{FnConsole}, func() (map[string]http.Handler, error) {
		cfg, err := ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("console: %w (%s, %s)", err, EnvBaseURL, EnvFunctionURLs)
		}
		s, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		return s.Handlers(), nil
	})
}
