package mcp

import (
	"context"
	"io"
	"net/http"
)

// TODO(proxy): shared/proxy has not landed on this branch yet; proxyCall
// mirrors proxy.Call as announced, and becomes `type proxyCall = proxy.Call`
// (APIProxy taking *proxy.Call) once it is merged. Nothing else changes.
type proxyCall struct {
	Principal        string
	Agent, Connector string
	Method           string
	Path             string
	RawQuery         string
	Header           http.Header
	Body             io.Reader
	ContentLength    int64
	Op               string
}

// APIProxy sends an agent's API request through a connector, credential
// added, one audit line per call: shared/proxy's Service. The answer's
// body must be closed (closing writes the audit line); an error is kinded
// (httpx.Map gives its code) and already audited.
type APIProxy interface {
	Do(ctx context.Context, c *proxyCall) (*http.Response, error)
}
