package connect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/platform"
	"connectors.dev/connectors/shared/platform/cloud/backend"
)

func init() {
	// The catalog and the pending states; no minting service (the code
	// exchange is one oauth.Client request), so no provider SDK is linked.
	platform.Register([]string{FnAuthorize, FnCallback}, func() (map[string]http.Handler, error) {
		redirect, console, err := URLsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		p, err := backend.FromEnv(context.Background(), os.Getenv)
		if err != nil {
			return nil, err
		}
		return (&Server{
			Catalog: p.Catalog, States: p.Store, OAuth: NewClient(p.Config), Auth: p.Auth, Log: p.Log,
			RedirectURL: redirect, ConsoleURL: console,
		}).Handlers(), nil
	})
}

// NewClient is the token client of the code exchange: the guarded
// client under the token requests' policy and timeouts.
func NewClient(cfg config.Config) *oauth.Client {
	return &oauth.Client{HTTP: outbound.NewClient(outbound.Options{
		Policy:         netguard.Policy{AllowLoopback: cfg.AllowInsecureURLs, AllowPrivate: cfg.AllowPrivateNetworks},
		ConnectTimeout: cfg.TokenConnectTimeout,
		Timeout:        cfg.TokenTimeout,
	}), DefaultLifetime: cfg.DefaultTokenLifetime}
}

// URLsFromEnv reads CONNECTORS_OAUTH_REDIRECT_URL and
// CONNECTORS_CONSOLE_URL: absolute https URLs (http to loopback only),
// without query or fragment.
func URLsFromEnv(getenv func(string) string) (redirect, console string, err error) {
	check := func(name string) (string, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return "", nil
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			!(u.Scheme == "https" || u.Scheme == "http" && netguard.IsLoopbackHost(u.Hostname())) {
			return "", fmt.Errorf("config: %s: %q is not an https URL without query or fragment", name, v)
		}
		return v, nil
	}
	if redirect, err = check("CONNECTORS_OAUTH_REDIRECT_URL"); err != nil {
		return "", "", err
	}
	if console, err = check("CONNECTORS_CONSOLE_URL"); err != nil {
		return "", "", err
	}
	return redirect, console, nil
}
