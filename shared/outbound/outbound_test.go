package outbound_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
)

func TestSanitize(t *testing.T) {
	const sec = "s3cr+t/Value"
	cases := []struct{ in, want string }{
		{"raw " + sec, "raw [redacted]"},
		{"upper " + strings.ToUpper(sec), "upper [redacted]"},
		{"form " + url.QueryEscape(sec), "form [redacted]"},
		{"b64 " + base64.RawURLEncoding.EncodeToString([]byte(sec)), "b64 [redacted]"},
		{"split s3cr\u200b+t/Value", "split [redacted]"},
		{"a\x00b\tc\n\n d\xff", "ab c d"},
	}
	for _, tc := range cases {
		if got := outbound.Sanitize(tc.in, 100, sec); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := outbound.Sanitize("abcdef", 3); got != "abc…" {
		t.Errorf("truncated to %q", got)
	}
	if got := outbound.Sanitize("no secrets", 100, ""); got != "no secrets" {
		t.Errorf("empty secret changed the text: %q", got)
	}
}

func TestSanitizeFunc(t *testing.T) {
	red := func(s string) string { return strings.ReplaceAll(s, "XY", "[redacted]") }
	// The extra redaction also runs after invisible characters are removed.
	if got := outbound.SanitizeFunc("X\u200bY and "+"sec", 100, red, "sec"); got != "[redacted] and [redacted]" {
		t.Errorf("SanitizeFunc = %q", got)
	}
	if got := outbound.SanitizeFunc("XY", 100, nil); got != "XY" {
		t.Errorf("nil redact changed the text: %q", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestTransportError(t *testing.T) {
	const ep = "https://example.test/token"
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: ep + "?q=secret", Err: err} }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"forbidden", context.Background(), wrap(fmt.Errorf("%w: metadata", netguard.ErrForbidden)), netguard.ErrForbidden},
		{"cancelled", cancelled, wrap(errors.New("x")), context.Canceled},
		{"timeout", context.Background(), wrap(timeoutErr{}), outbound.ErrTimeout},
		{"unreachable", context.Background(), wrap(errors.New("connection reset")), outbound.ErrUnreachable},
		{"not connected", context.Background(), wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), outbound.ErrNotConnected},
	}
	for _, tc := range cases {
		got := outbound.TransportError(tc.ctx, ep, tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.want)
		}
		if tc.name == "unreachable" && errors.Is(got, outbound.ErrNotConnected) {
			t.Errorf("%s: %v claims no connection was made", tc.name, got)
		}
		if strings.Contains(got.Error(), "secret") || !strings.HasPrefix(got.Error(), "token request to "+ep) {
			t.Errorf("%s: message %q", tc.name, got)
		}
	}
	if !outbound.IsTimeout(wrap(timeoutErr{})) || !outbound.IsTimeout(context.DeadlineExceeded) || outbound.IsTimeout(errors.New("x")) {
		t.Error("IsTimeout misclassifies")
	}
}

func TestOtherSchemesRefused(t *testing.T) {
	hc := outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}})
	for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1:70/"} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("%s: err = %v, want ErrForbidden", u, err)
		}
	}
}

// TestLazyClient: a given client is used as is; without one, every caller
// gets the same default client, whose strict policy refuses loopback.
func TestLazyClient(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	var l outbound.LazyClient
	given := &http.Client{}
	if got := l.Client(given); got != given {
		t.Fatalf("Client(given) = %p, want the given client %p", got, given)
	}

	got := make([]*http.Client, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = l.Client(nil)
		}()
	}
	wg.Wait()
	for i, c := range got {
		if c == nil || c != got[0] {
			t.Fatalf("call %d got client %p, want the one default %p", i, c, got[0])
		}
	}
	resp, err := got[0].Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, netguard.ErrForbidden) {
		t.Errorf("default client reaching loopback: err = %v, want ErrForbidden", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback server got %d requests from the default client", n)
	}
}
