package auth

import (
	"net/textproto"
	"testing"
)

// identify reads the header map directly, so its keys must be the
// canonical forms net/http stores incoming headers under.
func TestHeaderKeysAreCanonical(t *testing.T) {
	for _, k := range []string{headerAuthorization, headerServerless, canonicalIAPAssertion} {
		if c := textproto.CanonicalMIMEHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q): identify would never see it", k, c)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000":         true,
		"127.0.0.2:5000":         true,
		"127.255.255.254:1":      true,
		"[::1]:5000":             true,
		"[::ffff:127.0.0.1]:80":  true,
		"10.0.0.1:5000":          false,
		"128.0.0.1:5000":         false,
		"[::2]:5000":             false,
		"[fe80::1]:5000":         false,
		"127.0.0.1":              false, // no port: not a RemoteAddr
		"":                       false,
		"localhost:5000":         false, // a name, never a RemoteAddr
		"127.0.0.1.example:5000": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
