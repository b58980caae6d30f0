package main

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"connectors.dev/connectors/shared/httpx"
)

// loopbackOnly refuses, before any handler runs, the requests a web page on
// another site could make a browser send to the local run:
//
//   - a Host that is not a loopback name. A page whose own host name
//     resolves (or is rebound) to 127.0.0.1 reaches this listener with its
//     own name in Host; since loopback callers without a token are local-dev
//     with every role, answering it would hand that page the admin and
//     agent roles. Allowed: "localhost" and loopback IP literals
//     (127.0.0.0/8, [::1]), case-insensitive, any port. A trailing dot
//     ("localhost.") is refused: it is a different origin to a browser and
//     a name the resolver, not the operating system, may answer for.
//   - an Origin that is present and is not this run's own: scheme http, a
//     loopback host as above, and the port the request came in on (the
//     listener's) or the Host header's port (a forwarded port, which is the
//     origin the browser then shows). Cross-site fetches and form posts
//     from any other origin, including another port on localhost, carry
//     their Origin and are refused. "null" (sandboxed frames, file://
//     pages) is refused too.
//
// Clients that send no Origin (curl, scripts/connectors, the Go tests) are
// not browsers on someone else's page, and pass on Host alone.
func loopbackOnly(next http.Handler) http.Handler {
	// The last Host accepted, with its port: a client sends the same Host
	// on every request, and loopbackHost, a pure function of it, was a
	// twentieth of a token cache hit's own work. Only an accepted Host is
	// kept, so a refused one is parsed, and refused, every time.
	var last atomic.Pointer[hostVerdict]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hostPort string
		ok := false
		if v := last.Load(); v != nil && v.host == r.Host {
			hostPort, ok = v.port, true
		} else if hostPort, ok = loopbackHost(r.Host); ok {
			last.Store(&hostVerdict{host: r.Host, port: hostPort})
		}
		if !ok {
			httpx.WriteError(w, httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied,
				"the local run answers only loopback Host names (localhost, 127.0.0.1, [::1]), not %s", quoteClip(r.Host)))
			return
		}
		if origins, present := r.Header["Origin"]; present {
			if len(origins) != 1 || !ownOrigin(origins[0], listenerPort(r), hostPort) {
				httpx.WriteError(w, httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied,
					"the local run accepts requests only from its own origin (http://localhost:PORT), not Origin %s", quoteClip(strings.Join(origins, ", "))))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostVerdict is an accepted Host header and its port.
type hostVerdict struct{ host, port string }

// loopbackHost reports whether hostport (a Host header or an Origin's
// authority) names a loopback host, and returns its port ("" if none).
func loopbackHost(hostport string) (port string, ok bool) {
	host := hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return "", false
		}
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	} else if strings.Contains(hostport, ":") {
		// An unbracketed IPv6 address or a malformed port.
		return "", false
	}
	if strings.EqualFold(host, "localhost") {
		return port, true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return "", false
	}
	// An IPv4-mapped ::ffff:127.0.0.1 is no name a browser shows; refuse it.
	return port, !addr.Is4In6() && addr.IsLoopback()
}

// ownOrigin reports whether origin is this run's: http, a loopback host,
// and the listener's port or the Host header's.
func ownOrigin(origin, listener, hostPort string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	port, ok := loopbackHost(u.Host)
	if !ok {
		return false
	}
	if port == "" {
		port = "80"
	}
	if hostPort == "" {
		hostPort = "80"
	}
	return port == listener || port == hostPort
}

// listenerPort is the port of the local address the request came in on.
func listenerPort(r *http.Request) string {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	return port
}

// quoteClip quotes an untrusted header for an error message, bounded.
func quoteClip(s string) string {
	const limit = 100
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strconv.Quote(s)
}
