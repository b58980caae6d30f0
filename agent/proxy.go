package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Transport is an http.RoundTripper that sends each request through the
// proxy function to one connector's API, for one agent: a request for
// PATH?QUERY goes to {ProxyURL}/{Connector}/PATH?QUERY with the header
// Connectors-Agent, and the proxy sends it on to the connector's
// apiBaseUrl + PATH?QUERY with the connector's credential. The request's
// own scheme and host are ignored (a relative URL such as "/users/me"
// will do) unless APIBase is set. Its Authorization header is replaced by
// the ID token (the proxy would drop it anyway: the caller's credentials
// never travel upstream).
//
// Every answer is returned as it came, the proxy's own errors included
// (see ProxyError); an error means no answer came.
type Transport struct {
	// ProxyURL is the proxy function's URL: terraform output proxy_url,
	// or http://127.0.0.1:8080/proxy in the local run.
	ProxyURL string
	// Connector is the connector's name.
	Connector string
	// Agent is the agent ID the calls are for.
	Agent string
	// APIBase, when set, is the connector's apiBaseUrl, and requests must
	// be absolute URLs below it: the rest of their path is what is sent.
	// It lets a client library built for the API's own URLs (an endpoint
	// option pointed at the API) call through the proxy; a request for any
	// other URL fails and nothing is sent.
	APIBase string
	// IDToken gives the ID token for the proxy's URL; nil sends none (the
	// local run). NewTransport sets it from Options.
	IDToken oauth2.TokenSource
	// Base carries the requests to the proxy; nil: http.DefaultTransport.
	Base http.RoundTripper
}

// NewTransport returns a Transport for connector and agentID through the
// proxy at proxyURL, authenticated as Options say (by default with the
// runtime's ID token for proxyURL).
func NewTransport(ctx context.Context, proxyURL, connector, agentID string, opts *Options) (*Transport, error) {
	u, err := parseFunctionURL("proxy URL", proxyURL)
	if err != nil {
		return nil, err
	}
	if connector == "" || strings.Contains(connector, "/") || agentID == "" {
		return nil, fmt.Errorf("agent: connector %q (a name, no slash) and agent %q are both required", connector, agentID)
	}
	idts, err := opts.idTokenSource(ctx, u)
	if err != nil {
		return nil, err
	}
	return &Transport{ProxyURL: u.String(), Connector: connector, Agent: agentID, IDToken: idts, Base: opts.transport()}, nil
}

// ProxyClient returns an HTTP client whose requests go through the proxy
// (NewTransport) and which returns redirects instead of following them:
// the proxy returns the API's redirects, and a Location elsewhere is not
// the connector's API.
func ProxyClient(ctx context.Context, proxyURL, connector, agentID string, opts *Options) (*http.Client, error) {
	t, err := NewTransport(ctx, proxyURL, connector, agentID, opts)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// RoundTrip sends req through the proxy. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	target, err := t.target(req.URL)
	if err == nil {
		req2 := req.Clone(req.Context())
		req2.URL, req2.Host = target, ""
		req2.Header.Set(HeaderAgent, t.Agent)
		req2.Header.Del("Authorization")
		if err = authorize(req2.Header, t.IDToken); err == nil {
			base := t.Base
			if base == nil {
				base = http.DefaultTransport
			}
			return base.RoundTrip(req2)
		}
	}
	// A RoundTripper closes the body, sent or not.
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, err
}

// target is the proxy URL a request for u goes to.
func (t *Transport) target(u *url.URL) (*url.URL, error) {
	proxy, err := url.Parse(t.ProxyURL)
	if err != nil || proxy.Host == "" {
		return nil, fmt.Errorf("agent: proxy URL %q is not an absolute URL", t.ProxyURL)
	}
	if t.Connector == "" || strings.Contains(t.Connector, "/") {
		return nil, fmt.Errorf("agent: connector %q is not a connector name", t.Connector)
	}
	path := u.EscapedPath()
	if t.APIBase != "" {
		base, err := url.Parse(t.APIBase)
		if err != nil {
			return nil, fmt.Errorf("agent: APIBase %q is not a URL: %w", t.APIBase, err)
		}
		basePath := strings.TrimSuffix(base.EscapedPath(), "/")
		rest, under := strings.CutPrefix(path, basePath)
		if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) || !under || (rest != "" && !strings.HasPrefix(rest, "/")) {
			return nil, fmt.Errorf("agent: %s://%s%s is not below the connector's API %s; not sent", u.Scheme, u.Host, path, t.APIBase)
		}
		path = rest
	}
	// The proxy cleans and checks the path itself (".." and encoded tricks
	// are refused there): it goes as written.
	out := *proxy
	out.Path, out.RawPath = "", ""
	out.RawQuery, out.Fragment = u.RawQuery, ""
	escaped := strings.TrimSuffix(proxy.EscapedPath(), "/") + "/" + url.PathEscape(t.Connector) + "/" + strings.TrimPrefix(path, "/")
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("agent: path %q: %w", path, err)
	}
	out.Path, out.RawPath = p, escaped
	return &out, nil
}
