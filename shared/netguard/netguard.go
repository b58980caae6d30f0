// Package netguard decides which network destinations the service may reach
// on a connector's behalf. It is used twice: when a connector's URL is
// validated, and at dial time for every outbound token request, so that a
// host name that later resolves (or rebinds) to a forbidden address is still
// refused.
package netguard

import (
	"fmt"
	"net/netip"
	"strings"

	"connectors.dev/connectors/shared/errkind"
)

// ErrForbidden is wrapped by every refusal.
var ErrForbidden = errkind.New(errkind.FailedPrecondition, "destination not allowed", "url",
	"the connector's token endpoint is not an allowed destination (link-local, metadata, private or loopback address)")

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

// CheckAddr refuses addr unless the policy allows its class. An IPv6
// address that carries an IPv4 address (IPv4-mapped, IPv4-compatible,
// IPv4-translated, NAT64, 6to4, Teredo) is judged by the IPv4 address it
// carries, because a translator or relay on the path delivers the packets
// there: [64:ff9b::a9fe:a9fe] is the metadata server behind a NAT64 gateway.
func (p Policy) CheckAddr(addr netip.Addr) error {
	// A zone (fe80::1%eth0) says which interface, not which class; prefix
	// matching and comparison ignore zoned addresses, so drop it first.
	addr = addr.Unmap().WithZone("")
	if err := p.checkOne(addr); err != nil {
		return err
	}
	if !addr.Is6() {
		return nil
	}
	if nat64Local.Contains(addr) {
		// RFC 8215 lets the operator choose the prefix length (/48 to /96),
		// and with it where the IPv4 address sits: it cannot be located, so
		// it cannot be judged.
		return fmt.Errorf("%w: %s is in the local-use NAT64 prefix %s, whose embedded IPv4 address cannot be located", ErrForbidden, addr, nat64Local)
	}
	for _, e := range embedded(addr) {
		if err := p.checkOne(e.v4); err != nil {
			why := strings.TrimPrefix(err.Error(), ErrForbidden.Error()+": ")
			return fmt.Errorf("%w: %s embeds %s (%s): %s", ErrForbidden, addr, e.v4, e.kind, why)
		}
	}
	return nil
}

// checkOne judges one address by its own class, without looking inside it.
func (p Policy) checkOne(addr netip.Addr) error {
	for _, m := range metadataAddrs {
		if addr == m {
			return fmt.Errorf("%w: %s is a cloud metadata address", ErrForbidden, addr)
		}
	}
	switch {
	case !addr.IsValid():
		return fmt.Errorf("%w: invalid address", ErrForbidden)
	case addr.IsUnspecified(), thisNetwork.Contains(addr):
		return fmt.Errorf("%w: %s is unspecified (\"this network\")", ErrForbidden, addr)
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

var (
	// thisNetwork is 0.0.0.0/8 (RFC 1122 §3.2.1.3): never a destination, and
	// Linux delivers connections to 0.0.0.0 to the local host.
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	// nat64Local is the local-use NAT64 prefix (RFC 8215).
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")

	ipv4Compatible = netip.MustParsePrefix("::/96")           // RFC 4291 §2.5.5.1, deprecated
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT (RFC 2765)
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052
	sixToFour      = netip.MustParsePrefix("2002::/16")       // RFC 3056
	teredo         = netip.MustParsePrefix("2001::/32")       // RFC 4380
)

type embedding struct {
	v4   netip.Addr
	kind string
}

// embedded returns the IPv4 addresses an IPv6 address carries by a
// well-known convention; IPv4-mapped addresses are unmapped before.
func embedded(a netip.Addr) []embedding {
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte(b[i : i+4])) }
	switch {
	case ipv4Compatible.Contains(a):
		// :: and ::1 are IPv6's own unspecified and loopback addresses,
		// already judged as such.
		if a.IsUnspecified() || a.IsLoopback() {
			return nil
		}
		return []embedding{{v4(12), "IPv4-compatible"}}
	case ipv4Translated.Contains(a):
		return []embedding{{v4(12), "IPv4-translated"}}
	case nat64WellKnown.Contains(a):
		return []embedding{{v4(12), "NAT64"}}
	case sixToFour.Contains(a):
		return []embedding{{v4(2), "6to4"}}
	case teredo.Contains(a):
		// Bits 32-63 are the Teredo server; the last 32 bits are the
		// client's address with every bit inverted (RFC 4380 §4).
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return []embedding{{v4(4), "Teredo server"}, {netip.AddrFrom4(client), "Teredo client"}}
	}
	return nil
}

var sharedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast (RFC 7526), deprecated
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("fec0::/10"),      // site-local (RFC 3879), deprecated
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
	if isNumericName(h) {
		return fmt.Errorf("%w: %s is a numeric host name, which some resolvers read as an IPv4 address (2130706433, 0x7f.1, 127.1); write the address in dotted-decimal form", ErrForbidden, host)
	}
	if IsLoopbackHost(h) && !p.AllowLoopback {
		return fmt.Errorf("%w: %s is loopback", ErrForbidden, host)
	}
	return nil
}

// isNumericName reports whether a host that is not a dotted-decimal
// literal would still be taken for an IPv4 address by inet_aton-style
// parsers (decimal, octal or hex parts, fewer than four of them). No DNS
// top-level domain is numeric, so such a name is never a real host name.
func isNumericName(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		last = last[2:]
		return strings.Trim(last, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}
