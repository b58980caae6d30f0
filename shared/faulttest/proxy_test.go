package faulttest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/faulttest"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return lis.Addr().String()
}

// roundTrip sends a line and waits up to d for it to come back.
func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo garbled: " + line)
	}
	return nil
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFaultProxyTCP(t *testing.T) {
	p := faulttest.Start(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if err := roundTrip(c, r, time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	// Cut: the live connection ends, a new one is closed at once.
	p.Cut()
	if err := roundTrip(c, r, time.Second); err == nil || isTimeout(err) {
		t.Fatalf("live connection after Cut: %v, want a closed connection", err)
	}
	// The reset may come before the dial returns, or after.
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c2.Close()
		if err := roundTrip(c2, bufio.NewReader(c2), time.Second); err == nil || isTimeout(err) {
			t.Fatalf("new connection after Cut: %v, want a closed connection", err)
		}
	}
	p.Restore()
	c3, r3 := dial(t, p.Addr())
	if err := roundTrip(c3, r3, time.Second); err != nil {
		t.Fatalf("after Restore: %v", err)
	}

	// Stall: silence, no error, on live and new connections alike.
	p.Stall()
	if err := roundTrip(c3, r3, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("live connection while stalled: %v, want a timeout", err)
	}
	c4, r4 := dial(t, p.Addr())
	if err := roundTrip(c4, r4, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection while stalled: %v, want a timeout", err)
	}
	// Restore closes what lived through the stall; new connections work.
	p.Restore()
	if err := roundTrip(c3, r3, time.Second); err == nil || isTimeout(err) {
		t.Fatalf("stalled connection after Restore: %v, want it closed", err)
	}
	c5, r5 := dial(t, p.Addr())
	if err := roundTrip(c5, r5, time.Second); err != nil {
		t.Fatalf("after Restore from a stall: %v", err)
	}
	if accepted, refused := p.Stats(); accepted != 4 || refused != 1 {
		t.Fatalf("stats: accepted %d refused %d, want 4 and 1", accepted, refused)
	}
	p.Close()
	p.Close() // idempotent
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("closed proxy still accepts")
	}
}

// TestFaultProxyBackends checks that clients built by NewBackends really go
// through the proxies: a cut makes them fail, a restore brings them back
// with the data intact and without a new client.
func TestFaultProxyBackends(t *testing.T) {
	b := faulttest.NewBackends(t)
	ctx := context.Background()
	c := &connector.Connector{Name: "Proxied", URL: "https://example.com/token", GrantType: connector.GrantClientCredentials, Active: true}
	if _, err := b.Store.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	v, err := b.Secrets.Put(ctx, "proxied", nil, secret.Bundle{ClientSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Firestore.Stats(); n == 0 {
		t.Fatal("the Firestore client does not go through the proxy")
	}
	if n, _ := b.SecretManager.Stats(); n == 0 {
		t.Fatal("the Secret Manager client does not go through the proxy")
	}

	for _, fault := range faulttest.Faults {
		t.Run(fault.Name, func(t *testing.T) {
			fault.Start(b.Firestore)
			fault.Start(b.SecretManager)
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, ferr := b.Store.Get(short, "Proxied")
			_, serr := b.Secrets.Get(short, "proxied", v)
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("calls during the outage took %v", took)
			}
			t.Logf("during the outage: firestore: %v; secretmanager: %v", ferr, serr)
			for what, err := range map[string]error{"firestore": ferr, "secretmanager": serr} {
				code := status.Code(err)
				if err == nil || !(errors.Is(err, context.DeadlineExceeded) || code == codes.Unavailable || code == codes.DeadlineExceeded) {
					t.Errorf("%s during the outage: %v, want Unavailable or a deadline", what, err)
				}
			}
			// The data is still there, seen past the proxies.
			if _, err := b.Direct.Store.Get(ctx, "Proxied"); err != nil {
				t.Fatalf("direct read during the outage: %v", err)
			}
			b.Firestore.Restore()
			b.SecretManager.Restore()
			// The same clients recover (after gRPC's reconnect backoff).
			took := faulttest.Until(t, "recovery", func() bool {
				_, ferr = b.Store.Get(ctx, "Proxied")
				var got secret.Bundle
				got, serr = b.Secrets.Get(ctx, "proxied", v)
				if serr == nil && got.ClientSecret != "s3cret" {
					t.Fatal("secret changed")
				}
				return ferr == nil && serr == nil
			})
			t.Logf("recovered %v after restore", took.Round(time.Millisecond))
		})
	}
}
