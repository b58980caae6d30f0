package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the RFC 9110 §7.6.1 connection-specific headers, plus the
// obsolete Proxy-Connection and Keep-Alive that clients still send.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// callerOnly are request headers that carry the caller's own credentials
// or the path their request took to the proxy: none travels upstream,
// where the connector's credential is the only one.
var callerOnly = []string{
	"Authorization", "Proxy-Authorization", "X-Serverless-Authorization",
	"Cookie", "Cookie2", "Forwarded", "X-Goog-Iap-Jwt-Assertion", "Expect", "Via",
	"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Cloud-Trace-Context",
}

// awsSigned are the headers SigV4 sets; a caller's own would confuse the
// signature or smuggle another session token in.
var awsSigned = []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256", "X-Amz-Credential", "X-Amz-Signature"}

// OutboundHeader returns the headers of a caller's request that may be sent
// upstream: not hop-by-hop ones (nor those Connection names), not the
// caller's credentials or cookies, not Forwarded/X-Forwarded-*, not any
// Connectors-* header (the proxy's own vocabulary), not X-Amz-* signing
// headers. The caller's Accept-Encoding passes, and bodies come back as
// they were encoded.
func OutboundHeader(in http.Header) http.Header {
	out := make(http.Header, len(in))
	drop := connectionListed(in)
	for k, vs := range in {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if drop[ck] || isHopByHop(ck) || isCallerOnly(ck) || isOurs(ck) ||
			strings.HasPrefix(ck, "X-Forwarded-") || strings.HasPrefix(ck, "X-Amz-") {
			continue
		}
		out[ck] = vs // shared: neither side changes a value slice after this
	}
	return out
}

// CopyResponseHeader copies an upstream answer's headers to dst, less the
// hop-by-hop ones (and those its Connection names), Set-Cookie (an API's
// cookies are for a browser session the agent does not have, and would be
// scoped to the proxy's origin) and any Connectors-* header, which only the
// proxy's own errors carry: an agent always knows who answered.
func CopyResponseHeader(dst, src http.Header) {
	drop := connectionListed(src)
	for k, vs := range src {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if drop[ck] || isHopByHop(ck) || isOurs(ck) || ck == "Set-Cookie" || ck == "Set-Cookie2" {
			continue
		}
		dst[ck] = append(dst[ck], vs...)
	}
}

func connectionListed(h http.Header) map[string]bool {
	var out map[string]bool
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if out == nil {
					out = map[string]bool{}
				}
				out[textproto.CanonicalMIMEHeaderKey(name)] = true
			}
		}
	}
	return out
}

func isHopByHop(k string) bool   { return contains(hopByHop, k) }
func isCallerOnly(k string) bool { return contains(callerOnly, k) }
func isOurs(k string) bool       { return strings.HasPrefix(k, "Connectors-") }

func contains(list []string, k string) bool {
	for _, h := range list {
		if h == k {
			return true
		}
	}
	return false
}
