package proxy

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
)

// LimitsFromEnv reads CONNECTORS_PROXY_TIMEOUT, CONNECTORS_PROXY_MAX_DURATION
// (Go durations, or whole seconds) and CONNECTORS_PROXY_MAX_BODY_BYTES (a byte count); unset
// means the default.
func LimitsFromEnv(getenv func(string) string) (Limits, error) {
	l := Limits{MaxBody: DefaultMaxBody, Timeout: DefaultTimeout, MaxDuration: DefaultMaxDuration}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"CONNECTORS_PROXY_TIMEOUT", &l.Timeout}, {"CONNECTORS_PROXY_MAX_DURATION", &l.MaxDuration}} {
		if v := strings.TrimSpace(getenv(d.name)); v != "" {
			t, err := time.ParseDuration(v)
			if n, nerr := strconv.ParseInt(v, 10, 64); nerr == nil && n > 0 && n < 1<<31 {
				t, err = time.Duration(n)*time.Second, nil // whole seconds, as Terraform's variables give them
			}
			if err != nil || t <= 0 {
				return Limits{}, fmt.Errorf("proxy: %s must be a positive duration such as 60s, not %q", d.name, v)
			}
			*d.dst = t
		}
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_PROXY_MAX_BODY_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1<<40 {
			return Limits{}, fmt.Errorf("proxy: CONNECTORS_PROXY_MAX_BODY_BYTES must be a byte count from 1 to %d, not %q", int64(1)<<40, v)
		}
		l.MaxBody = n
	}
	if l.MaxDuration < l.Timeout {
		return Limits{}, fmt.Errorf("proxy: CONNECTORS_PROXY_MAX_DURATION (%s) must not be shorter than CONNECTORS_PROXY_TIMEOUT (%s)", l.MaxDuration, l.Timeout)
	}
	return l, nil
}

// NewService assembles a Service over m, with the guarded streaming client
// for the deployment's address policy (cfg: loopback only where insecure
// URLs are allowed, private ranges only when allowed).
func NewService(m *mint.Service, cfg config.Config, l Limits, log *slog.Logger) *Service {
	hc := outbound.NewClient(outbound.Options{
		Policy:         netguard.Policy{AllowLoopback: cfg.AllowInsecureURLs, AllowPrivate: cfg.AllowPrivateNetworks},
		ConnectTimeout: cfg.TokenConnectTimeout,
		Timeout:        l.Timeout,
		Streaming:      true,
	})
	return &Service{Mint: m, Client: hc, Log: log, Limits: l}
}
