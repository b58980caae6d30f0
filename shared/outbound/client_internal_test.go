package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/netguard"
)

// TestDialTimeCheck proves the policy is applied to the resolved address at
// dial time: "localhost" is a name, so only the dialer's Control can see
// that it became 127.0.0.1 (the URL-level pre-check is bypassed here).
func TestDialTimeCheck(t *testing.T) {
	var accepted atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	strict := guardedDialer(netguard.Policy{}, time.Second, nil)
	for _, addr := range []string{net.JoinHostPort("localhost", port), ln.Addr().String(), "169.254.169.254:80", "[::ffff:169.254.169.254]:80"} {
		conn, err := strict.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
		}
		if !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("dial %s: err = %v, want ErrForbidden", addr, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("listener accepted %d connections from a refused dial", n)
	}

	loose := guardedDialer(netguard.Policy{AllowLoopback: true}, time.Second, nil)
	conn, err := loose.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial with AllowLoopback: %v", err)
	}
	conn.Close()
}

func TestTransportSettings(t *testing.T) {
	hc := NewClient(Options{})
	gt, ok := hc.Transport.(*guardTransport)
	if !ok {
		t.Fatalf("transport is %T", hc.Transport)
	}
	tr := gt.base
	if tr.Proxy != nil {
		t.Error("transport uses a proxy: it would dial outside the guard")
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Error("TLS minimum is not 1.2")
	}
	if hc.Timeout != DefaultTimeout || tr.TLSHandshakeTimeout != DefaultConnectTimeout {
		t.Errorf("timeouts = %v / %v", hc.Timeout, tr.TLSHandshakeTimeout)
	}
	if hc.CheckRedirect == nil {
		t.Error("redirects would be followed")
	}
	hc.CloseIdleConnections() // reaches the transport through guardTransport
}

// TestTLS talks to a real TLS server through the guarded client: TLS 1.2+
// works (HTTP/2 included), an older server is refused.
func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"t","proto":"` + r.Proto + `"}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	newClient := func() *http.Client {
		hc := NewClient(Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second})
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		hc.Transport.(*guardTransport).base.TLSClientConfig.RootCAs = pool
		return hc
	}
	resp, err := newClient().Post(srv.URL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatalf("TLS request: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}

	old := httptest.NewUnstartedServer(http.NotFoundHandler())
	old.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	defer old.Close()
	_, err = newClient().Post(old.URL, "application/x-www-form-urlencoded", nil)
	if err == nil {
		t.Fatal("TLS 1.1 server accepted")
	}
	if got := TransportError(context.Background(), old.URL, err); !errors.Is(got, ErrUnreachable) {
		t.Errorf("TLS failure classified as %v, want ErrUnreachable", got)
	}
}
