package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr   string
		policy Policy
		ok     bool
	}{
		{"8.8.8.8", Policy{}, true},
		{"2001:4860:4860::8888", Policy{}, true},
		{"169.254.169.254", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"fd00:ec2::254", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"::ffff:169.254.169.254", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"169.254.1.1", Policy{AllowPrivate: true}, false},
		{"fe80::1", Policy{AllowPrivate: true}, false},
		{"0.0.0.0", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"::", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"224.0.0.1", Policy{AllowPrivate: true}, false},
		{"ff02::1", Policy{AllowPrivate: true}, false},
		{"127.0.0.1", Policy{}, false},
		{"127.0.0.1", Policy{AllowLoopback: true}, true},
		{"::1", Policy{}, false},
		{"::1", Policy{AllowLoopback: true}, true},
		{"10.1.2.3", Policy{}, false},
		{"10.1.2.3", Policy{AllowPrivate: true}, true},
		{"192.168.1.1", Policy{}, false},
		{"fc00::1", Policy{}, false},
		{"100.64.0.1", Policy{}, false},
	}
	for _, tt := range tests {
		err := tt.policy.CheckAddr(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%s, %+v) = %v, want ok=%v", tt.addr, tt.policy, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("CheckAddr(%s): error %v does not wrap ErrForbidden", tt.addr, err)
		}
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host   string
		policy Policy
		ok     bool
	}{
		{"auth.example.com", Policy{}, true},
		{"metadata.google.internal", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"METADATA.GOOGLE.INTERNAL.", Policy{AllowLoopback: true, AllowPrivate: true}, false},
		{"localhost", Policy{}, false},
		{"localhost", Policy{AllowLoopback: true}, true},
		{"[::1]", Policy{AllowLoopback: true}, true},
		{"169.254.169.254", Policy{AllowLoopback: true}, false},
	}
	for _, tt := range tests {
		if err := tt.policy.CheckHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("CheckHost(%s, %+v) = %v, want ok=%v", tt.host, tt.policy, err, tt.ok)
		}
	}
}
