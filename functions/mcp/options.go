package mcp

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectors.dev/connectors/shared/proxy"
)

// Defaults and bounds of the settings.
const (
	// DefaultMaxResultBytes is the most body bytes call_api and read_file
	// return before cutting with truncated set: a model's context, not
	// memory, is the scarce resource (256 KiB of text is some 64k tokens).
	DefaultMaxResultBytes = 256 << 10
	// DefaultMaxRequestBytes is the largest MCP request body, the SDK's
	// own default: call_api and write_file bodies ride inside it (in
	// base64, 4/3 of their size). Larger uploads go through sign_url.
	DefaultMaxRequestBytes = 4 << 20
	maxSettingBytes        = 64 << 20
)

// Options are the function's settings.
type Options struct {
	// MaxResultBytes caps the body call_api and read_file return
	// (CONNECTORS_MCP_MAX_RESULT_BYTES; default DefaultMaxResultBytes).
	MaxResultBytes int64
	// MaxRequestBytes caps an MCP request body
	// (CONNECTORS_MCP_MAX_REQUEST_BYTES; default DefaultMaxRequestBytes);
	// beyond it 413.
	MaxRequestBytes int64
	// MaxCallDuration bounds a whole MCP request, past the request
	// deadline that bounds the service's own backends: the proxy's
	// CONNECTORS_PROXY_MAX_DURATION, which also bounds call_api's API side
	// (default DefaultMaxCallDuration).
	MaxCallDuration time.Duration
}

// DefaultMaxCallDuration is MaxCallDuration when unset: the proxy's own
// default bound on a whole call.
const DefaultMaxCallDuration = proxy.DefaultMaxDuration

func (o Options) maxCall() time.Duration {
	if o.MaxCallDuration > 0 {
		return o.MaxCallDuration
	}
	return DefaultMaxCallDuration
}

// OptionsFromEnv reads Options; errors name the variable.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	for _, s := range []struct {
		name string
		dst  *int64
	}{
		{"CONNECTORS_MCP_MAX_RESULT_BYTES", &o.MaxResultBytes},
		{"CONNECTORS_MCP_MAX_REQUEST_BYTES", &o.MaxRequestBytes},
	} {
		v := strings.TrimSpace(getenv(s.name))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > maxSettingBytes {
			return Options{}, fmt.Errorf("mcp: %s must be a byte count from 1 to %d, not %q", s.name, maxSettingBytes, v)
		}
		*s.dst = n
	}
	return o, nil
}

func (o Options) maxResult() int64 {
	if o.MaxResultBytes > 0 {
		return o.MaxResultBytes
	}
	return DefaultMaxResultBytes
}

func (o Options) maxRequest() int64 {
	if o.MaxRequestBytes > 0 {
		return o.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}
