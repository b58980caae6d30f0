// Package netguard decides which network destinations the service may reach
// on a connector's behalf. It is used twice: when a connector's URL is
// validated, and at dial time for every outbound token request, so that a
// host name that later resolves (or rebinds) to a forbidden address is still
// refused.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrForbidden is wrapped by every refusal.
var ErrForbidden = errors.New("destination not allowed")

// Policy says which address classes beyond the always-allowed public ones are
// reachable. Link-local, cloud metadata, unspecified and multicast addresses
// are refused whatever the policy says.
type Policy struct {
	AllowLoopback bool // local development: http://127.0.0.1:PORT token endpoints
	AllowPrivate  bool // deployments whose providers sit in private ranges
}

var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // GCP, AWS, Azure
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

var metadataHosts = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
}

// CheckAddr refuses addr unless the policy allows its class.
func (p Policy) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, m := range metadataAddrs {
		if addr == m {
			return fmt.Errorf("%w: %s is a cloud metadata address", ErrForbidden, addr)
		}
	}
	switch {
	case !addr.IsValid():
		return fmt.Errorf("%w: invalid address", ErrForbidden)
	case addr.IsUnspecified():
		return fmt.Errorf("%w: %s is unspecified", ErrForbidden, addr)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local", ErrForbidden, addr)
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is multicast", ErrForbidden, addr)
	case addr.IsLoopback():
		if !p.AllowLoopback {
			return fmt.Errorf("%w: %s is loopback", ErrForbidden, addr)
		}
	case addr.IsPrivate(), isSharedOrReserved(addr):
		if !p.AllowPrivate {
			return fmt.Errorf("%w: %s is a private address", ErrForbidden, addr)
		}
	}
	return nil
}

var sharedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
}

func isSharedOrReserved(addr netip.Addr) bool {
	for _, p := range sharedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// IsLoopbackHost reports whether host (a name or IP literal, without port)
// names this machine.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.Unmap().IsLoopback()
}

// CheckHost refuses a host (name or IP literal, without port) that is known
// to be forbidden before any lookup: metadata names and forbidden literals.
// Names that resolve to forbidden addresses are caught at dial time.
func (p Policy) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if metadataHosts[h] {
		return fmt.Errorf("%w: %s is a cloud metadata host", ErrForbidden, host)
	}
	if addr, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return p.CheckAddr(addr)
	}
	if IsLoopbackHost(h) && !p.AllowLoopback {
		return fmt.Errorf("%w: %s is loopback", ErrForbidden, host)
	}
	return nil
}
