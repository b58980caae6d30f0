// Package outbound is the guarded HTTP client for requests to endpoints a
// connector names: an OAuth token endpoint, a service-account key's
// token_uri, an STS endpoint, and next the proxy function's upstreams. Every
// request to a connector-supplied endpoint goes through it, because such an
// endpoint is chosen by whoever edits the connector, not by this service:
// the address guard (shared/netguard) is applied where the connection is
// made, so that no request can be steered to a metadata server or an
// internal address.
//
// It gives every caller the same guarantees and the same error vocabulary:
//
//   - NewClient: the dial-time address guard, no proxy, no redirects,
//     connect and overall timeouts, TLS 1.2 or newer;
//   - TransportError: a failure to get an answer classified as ErrTimeout,
//     ErrUnreachable (with ErrNotConnected when no connection was made),
//     netguard.ErrForbidden or context.Canceled, which shared/httpx maps to
//     statuses;
//   - Sanitize and Redactor: an upstream's error text made safe to log and
//     show, with the caller's secrets removed in every encoding a request
//     may have carried them in;
//   - LazyClient: the production client, built on first use, for callers
//     whose client is optional.
//
// Nothing in this package logs.
package outbound

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"connectors.dev/connectors/shared/netguard"
)

// Default timeouts of NewClient.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultTimeout        = 15 * time.Second
)

// Options configure NewClient.
type Options struct {
	// Policy says which address classes may be dialled beyond public ones.
	// Link-local, metadata, unspecified and multicast addresses are refused
	// whatever it says.
	Policy netguard.Policy
	// ConnectTimeout bounds name resolution plus TCP connect, and separately
	// the TLS handshake; zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Timeout bounds the whole exchange, reading the body included; zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Resolver looks up endpoint names; nil means the system's. Its answers
	// are judged by the policy at dial time like any other.
	Resolver *net.Resolver
	// Streaming is for the proxy's upstream calls: Timeout bounds only the
	// wait for the response headers (the time to first byte), not reading
	// the body, which may be a long download or an event stream; bodies
	// pass compressed as they came; more idle connections per host, since
	// one API is called often.
	Streaming bool
}

// NewClient returns the HTTP client for requests to connector-supplied
// URLs, guarded against SSRF:
//
//   - the resolved IP of every connection attempt is checked against the
//     policy at dial time, so a name that resolves (or rebinds) to a
//     forbidden address is refused no matter what it resolved to earlier;
//   - literal forbidden hosts and cloud metadata host names are refused
//     before any lookup;
//   - no proxy (a proxy would dial on our behalf, out of the check's reach);
//   - no redirects: a 3xx is returned as is;
//   - connect and overall timeouts, TLS 1.2 or newer, bounded headers.
//
// A refused destination fails with an error wrapping netguard.ErrForbidden,
// before any byte reaches it.
func NewClient(o Options) *http.Client {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            guardedDialer(o.Policy, o.ConnectTimeout, o.Resolver).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.ConnectTimeout,
		ResponseHeaderTimeout:  o.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// Token endpoints are few and called often: keep some connections
		// warm, but not forever (providers rotate their front ends).
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		// A custom DialContext disables HTTP/2 unless asked for.
		ForceAttemptHTTP2: true,
	}
	overall := o.Timeout
	if o.Streaming {
		overall = 0
		transport.DisableCompression = true
		transport.MaxIdleConnsPerHost = 64
		transport.MaxIdleConns = 256
	}
	return &http.Client{
		Transport:     &guardTransport{policy: o.Policy, base: transport},
		Timeout:       overall,
		CheckRedirect: NoRedirect,
	}
}

// NoRedirect is an http.Client CheckRedirect that stops at the first
// redirect and hands back the 3xx response: re-sending credentials (a
// client secret, a signed assertion, a signed STS request) wherever a 3xx
// points is never right for a request to a connector's endpoint.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// LazyClient is an optional client's fallback: the production client,
// NewClient(Options{}) with its strict policy, built on first use and then
// shared. The zero value is ready to use; it must not be copied after first
// use.
type LazyClient struct {
	once sync.Once
	def  *http.Client
}

// Client returns given when it is not nil, else the lazily built default.
func (l *LazyClient) Client(given *http.Client) *http.Client {
	if given != nil {
		return given
	}
	l.once.Do(func() { l.def = NewClient(Options{}) })
	return l.def
}

// guardedDialer checks each connection attempt's resolved address in
// Control, which runs after the socket is created and before connect(2).
// Name resolution itself does not go through this dialer (the resolver has
// its own), so the DNS server's address is not subject to the policy: on
// GCP it is 169.254.169.254.
func guardedDialer(p netguard.Policy, timeout time.Duration, r *net.Resolver) *net.Dialer {
	return &net.Dialer{
		Resolver:  r,
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse dial address %q", netguard.ErrForbidden, address)
			}
			return p.CheckAddr(ap.Addr())
		},
	}
}

// guardTransport refuses what can be refused before any lookup: other
// schemes, forbidden address literals and metadata host names.
type guardTransport struct {
	policy netguard.Policy
	base   *http.Transport
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	err := func() error {
		if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
			return fmt.Errorf("%w: scheme %q", netguard.ErrForbidden, req.URL.Scheme)
		}
		return g.policy.CheckHost(req.URL.Hostname())
	}()
	if err != nil {
		// A RoundTripper must close the body, even on error.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (g *guardTransport) CloseIdleConnections() { g.base.CloseIdleConnections() }
