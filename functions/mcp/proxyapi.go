package mcp

import (
	"context"
	"net/http"

	"connectors.dev/connectors/shared/proxy"
)

// proxyCall is the proxy's call: call_api builds one per tool call.
type proxyCall = proxy.Call

// APIProxy sends an agent's API request through a connector, credential
// added, one audit line per call: shared/proxy's Service, in process. The
// answer's body must be closed (closing writes the audit line); an error
// is kinded (httpx.Map gives its code) and already audited.
type APIProxy interface {
	Do(ctx context.Context, c *proxy.Call) (*http.Response, error)
}

var _ APIProxy = (*proxy.Service)(nil)
