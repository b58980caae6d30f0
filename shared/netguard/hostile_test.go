package netguard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

var (
	strict = netguard.Policy{}
	loose  = netguard.Policy{AllowLoopback: true, AllowPrivate: true}
)

// alwaysRefused are IPv6 addresses that carry a forbidden IPv4 address (the
// metadata server, link-local, "this network") or whose carried address
// cannot be located. No policy allows them. Each was allowed before the
// embedded address was judged.
var alwaysRefused = []struct{ addr, why string }{
	{"64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"},
	{"64:ff9b::169.254.169.254", "NAT64 of 169.254.169.254, dotted form"},
	{"64:ff9b::a9fe:1", "NAT64 of link-local 169.254.0.1"},
	{"::a9fe:a9fe", "IPv4-compatible 169.254.169.254"},
	{"::ffff:0:a9fe:a9fe", "IPv4-translated 169.254.169.254"},
	{"2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"},
	{"2002:6464:64c8::", "6to4 of Alibaba's metadata 100.100.100.200"},
	{"2001:0:a9fe:a9fe::1", "Teredo server 169.254.169.254"},
	{"2001:0:4136:e378:8000:63bf:5601:5601", "Teredo client 169.254.169.254 (XOR-obfuscated)"},
	{"64:ff9b:1::a9fe:a9fe", "local-use NAT64, /96 position"},
	{"64:ff9b:1:a9fe:a9:fe00::", "local-use NAT64, /48 position"},
	{"0.0.0.1", "this network (0.0.0.0/8)"},
	{"0.1.2.3", "this network (0.0.0.0/8)"},
	{"64:ff9b::1", "NAT64 of 0.0.0.1"},
	{"fd00:ec2::254%eth0", "zoned AWS metadata"},
}

// refusedUnlessAllowed carry a loopback or private IPv4 address (or are a
// private class themselves): refused by the strict policy, as the bare
// address is; each was allowed before.
var refusedUnlessAllowed = []struct{ addr, why string }{
	{"64:ff9b::7f00:1", "NAT64 of 127.0.0.1"},
	{"64:ff9b::a00:1", "NAT64 of 10.0.0.1"},
	{"::7f00:1", "IPv4-compatible 127.0.0.1"},
	{"::c0a8:101", "IPv4-compatible 192.168.1.1"},
	{"::ffff:0:a00:1", "IPv4-translated 10.0.0.1"},
	{"2002:7f00:1::", "6to4 of 127.0.0.1"},
	{"2002:c0a8:101::1", "6to4 of 192.168.1.1"},
	{"2001:0:a00:1::", "Teredo server 10.0.0.1"},
	{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo client 127.0.0.1"},
	{"2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo client 10.0.0.1"},
	{"fec0::1", "site-local"},
	{"192.88.99.1", "6to4 relay anycast"},
}

func TestHostileEmbeddedAddresses(t *testing.T) {
	for _, c := range alwaysRefused {
		t.Run(c.why, func(t *testing.T) {
			addr := netip.MustParseAddr(c.addr)
			for _, p := range []netguard.Policy{strict, loose} {
				if err := p.CheckAddr(addr); !errors.Is(err, netguard.ErrForbidden) {
					t.Errorf("CheckAddr(%s, %+v) = %v, want ErrForbidden", c.addr, p, err)
				}
				if err := p.CheckHost("[" + c.addr + "]"); !errors.Is(err, netguard.ErrForbidden) {
					t.Errorf("CheckHost([%s], %+v) = %v, want ErrForbidden", c.addr, p, err)
				}
			}
		})
	}
	for _, c := range refusedUnlessAllowed {
		t.Run(c.why, func(t *testing.T) {
			if err := strict.CheckAddr(netip.MustParseAddr(c.addr)); !errors.Is(err, netguard.ErrForbidden) {
				t.Errorf("CheckAddr(%s, strict) = %v, want ErrForbidden", c.addr, err)
			}
		})
	}
}

// TestEmbeddedJudgedLikeBare: what the bare IPv4 address may reach, its
// embedded forms may too; public ones are not refused wholesale.
func TestEmbeddedJudgedLikeBare(t *testing.T) {
	for _, a := range []string{"64:ff9b::808:808", "2002:808:808::1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "::808:808"} {
		if err := strict.CheckAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("CheckAddr(%s, strict) = %v, want allowed (carries public 8.8.8.8 or 65.54.227.120)", a, err)
		}
	}
	for _, c := range refusedUnlessAllowed {
		if err := loose.CheckAddr(netip.MustParseAddr(c.addr)); err != nil {
			t.Errorf("CheckAddr(%s, loopback+private allowed) = %v, want allowed", c.addr, err)
		}
	}
	err := loose.CheckAddr(netip.MustParseAddr("64:ff9b::a9fe:a9fe"))
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254") || !strings.Contains(err.Error(), "NAT64") {
		t.Errorf("refusal %v does not name the embedded address and its kind", err)
	}
}

// TestHostileNumericHostNames: names that inet_aton-style resolvers read as
// IPv4 addresses are refused before any lookup.
func TestHostileNumericHostNames(t *testing.T) {
	for _, h := range []string{"2130706433", "0x7f000001", "0x7f.1", "127.1", "0251.0376.0251.0376", "169.254.43518"} {
		if err := loose.CheckHost(h); !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("CheckHost(%s) = %v, want ErrForbidden", h, err)
		}
	}
	for _, h := range []string{"auth.example.com", "1password.com", "a.0xcafe.example", "example.com."} {
		if err := strict.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%s) = %v, want allowed", h, err)
		}
	}
}

// TestHostileConnectorURLs: a connector's url is judged by the same rules
// when it is saved, whatever the deployment's private-network setting.
func TestHostileConnectorURLs(t *testing.T) {
	var hosts []string
	for _, c := range alwaysRefused {
		if !strings.Contains(c.addr, "%") { // a zone is not valid in a URL host without escaping
			hosts = append(hosts, c.addr)
		}
	}
	hosts = append(hosts, "2130706433")
	for _, h := range hosts {
		for _, insecure := range []bool{false, true} {
			host := h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
			c := connector.Defaults()
			c.Name = "Hostile"
			c.GrantType = connector.GrantClientCredentials
			c.URL = "https://" + host + "/token"
			c.ClientID = "client"
			b := secret.Bundle{ClientSecret: "s3cret-value"}
			c.HasClientSecret = true
			err := connector.Validate(c, &b, connector.Options{AllowInsecureURLs: insecure})
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != "url" {
				t.Errorf("url %s (insecure=%v): err = %v, want a url FieldError", c.URL, insecure, err)
			}
		}
	}
}

// TestHostileDialThroughGuardedClient sends token requests through the real
// guarded HTTP client to each hostile literal: each is refused with
// ErrForbidden before any connection attempt (so at once, not after a
// connect timeout), whatever the policy.
func TestHostileDialThroughGuardedClient(t *testing.T) {
	var urls []string
	for _, c := range alwaysRefused {
		if strings.Contains(c.addr, "%") {
			continue
		}
		h := c.addr
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		urls = append(urls, "http://"+h+":80/token")
	}
	for _, p := range []netguard.Policy{strict, loose} {
		hc := outbound.NewClient(outbound.Options{Policy: p, ConnectTimeout: 2 * time.Second, Timeout: 3 * time.Second})
		for _, u := range urls {
			start := time.Now()
			resp, err := hc.Post(u, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, netguard.ErrForbidden) {
				t.Errorf("POST %s (%+v): err = %v, want ErrForbidden", u, p, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("POST %s: refusal took %v; it should come before any connection attempt", u, d)
			}
		}
	}
}

// TestHostileNameResolvesToEmbedded: a name whose AAAA record is a NAT64,
// 6to4 or Teredo form of a forbidden address is refused by the dial-time
// check, after resolution and before connect(2). The name is answered by a
// real DNS server on loopback, the client's resolver pointed at it.
func TestHostileNameResolvesToEmbedded(t *testing.T) {
	records := map[string]netip.Addr{
		"nat64-metadata.test.":  netip.MustParseAddr("64:ff9b::a9fe:a9fe"),
		"sixtofour-loop.test.":  netip.MustParseAddr("2002:7f00:1::"),
		"teredo-metadata.test.": netip.MustParseAddr("2001:0:4136:e378:8000:63bf:5601:5601"),
		"compat-private.test.":  netip.MustParseAddr("::a00:1"),
		"thisnet.test.":         netip.MustParseAddr("0.0.0.1"),
	}
	dns := startDNS(t, records)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	hc := outbound.NewClient(outbound.Options{Policy: strict, Resolver: resolver, ConnectTimeout: 2 * time.Second, Timeout: 3 * time.Second})
	for name := range records {
		u := "http://" + strings.TrimSuffix(name, ".") + ":80/token"
		start := time.Now()
		resp, err := hc.Post(u, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("POST %s: err = %v, want ErrForbidden from the dial-time check", u, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("POST %s: refusal took %v; it should come before connect", u, d)
		}
	}
}

// startDNS serves A and AAAA answers for records over UDP on loopback and
// returns its address. It answers only what the Go resolver asks: one
// question per message, class IN.
func startDNS(t *testing.T, records map[string]netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := answerDNS(buf[:n], records); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func answerDNS(q []byte, records map[string]netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// Question name: length-prefixed labels up to a zero byte.
	i := 12
	var name strings.Builder
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		name.Write(q[i+1 : i+1+l])
		name.WriteByte('.')
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]

	resp := make([]byte, 12, 64+len(question))
	copy(resp, q[:2])                            // ID
	binary.BigEndian.PutUint16(resp[2:], 0x8180) // response, recursion desired+available
	binary.BigEndian.PutUint16(resp[4:], 1)      // one question
	addr, ok := records[strings.ToLower(name.String())]
	var rdata []byte
	switch {
	case !ok:
		binary.BigEndian.PutUint16(resp[2:], 0x8183) // NXDOMAIN
	case qtype == 1 && addr.Is4():
		a := addr.As4()
		rdata = a[:]
	case qtype == 28 && addr.Is6():
		a := addr.As16()
		rdata = a[:]
	}
	resp = append(resp, question...)
	if rdata != nil {
		binary.BigEndian.PutUint16(resp[6:], 1) // one answer
		resp = append(resp, 0xc0, 12)           // name: pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}
