package oauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
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
		if got := oauth.Sanitize(tc.in, 100, sec); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := oauth.Sanitize("abcdef", 3); got != "abc…" {
		t.Errorf("truncated to %q", got)
	}
	if got := oauth.Sanitize("no secrets", 100, ""); got != "no secrets" {
		t.Errorf("empty secret changed the text: %q", got)
	}
}

func TestSanitizeFunc(t *testing.T) {
	red := func(s string) string { return strings.ReplaceAll(s, "XY", "[redacted]") }
	// The extra redaction also runs after invisible characters are removed.
	if got := oauth.SanitizeFunc("X\u200bY and "+"sec", 100, red, "sec"); got != "[redacted] and [redacted]" {
		t.Errorf("SanitizeFunc = %q", got)
	}
	if got := oauth.SanitizeFunc("XY", 100, nil); got != "XY" {
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
		{"timeout", context.Background(), wrap(timeoutErr{}), oauth.ErrTimeout},
		{"unreachable", context.Background(), wrap(errors.New("connection refused")), oauth.ErrUnreachable},
	}
	for _, tc := range cases {
		got := oauth.TransportError(tc.ctx, ep, tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.want)
		}
		if strings.Contains(got.Error(), "secret") || !strings.HasPrefix(got.Error(), "token request to "+ep) {
			t.Errorf("%s: message %q", tc.name, got)
		}
	}
	if !oauth.IsTimeout(wrap(timeoutErr{})) || !oauth.IsTimeout(context.DeadlineExceeded) || oauth.IsTimeout(errors.New("x")) {
		t.Error("IsTimeout misclassifies")
	}
}
