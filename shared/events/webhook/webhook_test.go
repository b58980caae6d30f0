package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/events/webhook"
	"connectors.dev/connectors/shared/netguard"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// receiver is a real loopback endpoint that verifies every delivery,
// records the raw requests (to replay them) and what it accepted or
// refused, and answers a replay 200 without acting on it, as the package
// doc tells receivers to.
type receiver struct {
	srv      *httptest.Server
	v        *webhook.Verifier
	mu       sync.Mutex
	accepted []events.CloudEvent
	refused  []error
	raw      []*capture
}

type capture struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{v: &webhook.Verifier{Key: key}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.raw = append(r.raw, &capture{req.Header.Clone(), body})
		if err := r.v.Verify(req.Header, body); err != nil {
			r.refused = append(r.refused, err)
			if errors.Is(err, webhook.ErrReplay) {
				w.WriteHeader(http.StatusOK) // already handled: stop the sender's retries
				return
			}
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		ce, err := events.Decode(body)
		if err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		r.accepted = append(r.accepted, ce)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// resend sends a captured request again, byte for byte: an attacker's
// replay.
func (r *receiver) resend(t *testing.T, c *capture) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL, bytes.NewReader(c.body))
	req.Header = c.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sender(url, secret string, now func() time.Time) *webhook.Sender {
	return &webhook.Sender{
		URL:    url,
		Secret: func(context.Context) (string, error) { return secret, nil },
		Source: "//connectors.test",
		Policy: netguard.Policy{AllowLoopback: true},
		Now:    now,
	}
}

func event(name string) events.Event {
	active := true
	return events.New(events.ConnectorCreated, events.Data{Name: name, GrantType: "client_credentials", Revision: "r1", Active: &active}, time.Now())
}

// TestWebhookSignedDeliveryVerifiesAndReplayIsRefused: a real loopback
// receiver verifies the Standard Webhooks signature of a delivery; the
// same request sent again is refused as a replay, and a body changed in
// flight or signed with another key is refused too.
func TestWebhookSignedDeliveryVerifiesAndReplayIsRefused(t *testing.T) {
	secret := newSecret(t)
	r := newReceiver(t, secret)
	s := sender(r.srv.URL, secret, nil)
	ev := event("github")
	if err := s.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if len(r.accepted) != 1 || r.accepted[0].ID != ev.ID || r.accepted[0].Subject != "github" || r.accepted[0].Type != events.ConnectorCreated {
		t.Fatalf("accepted %+v, refused %v", r.accepted, r.refused)
	}
	if got := r.raw[0].header.Get("Content-Type"); got != events.ContentType {
		t.Errorf("content type %q", got)
	}
	if !strings.HasPrefix(r.raw[0].header.Get(webhook.HeaderSignature), "v1,") {
		t.Errorf("signature header %q", r.raw[0].header.Get(webhook.HeaderSignature))
	}

	r.resend(t, r.raw[0])
	if len(r.accepted) != 1 || len(r.refused) != 1 || !errors.Is(r.refused[0], webhook.ErrReplay) {
		t.Fatalf("replay: accepted %d, refused %v", len(r.accepted), r.refused)
	}

	tampered := &capture{r.raw[0].header.Clone(), bytes.Replace(r.raw[0].body, []byte("github"), []byte("gitlab"), 1)}
	tampered.header.Set(webhook.HeaderID, "other-id") // not a replay: the signature must catch it
	if code := r.resend(t, tampered); code != http.StatusUnauthorized || !errors.Is(r.refused[1], webhook.ErrSignature) {
		t.Fatalf("tampered body: status %d, refused %v", code, r.refused)
	}

	other := sender(r.srv.URL, newSecret(t), nil)
	if err := other.Publish(t.Context(), event("github")); err == nil || !errors.Is(err, events.ErrUnavailable) {
		t.Fatalf("wrong key: publish err %v", err)
	}
	if !errors.Is(r.refused[2], webhook.ErrSignature) || len(r.accepted) != 1 {
		t.Fatalf("wrong key: refused %v", r.refused)
	}
}

// TestWebhookStaleTimestampIsRefused: a delivery signed ten minutes ago
// (a captured request held back, or a skewed clock) is refused, and so is
// one from the future; the sender sees a failure, for the outbox to retry.
func TestWebhookStaleTimestampIsRefused(t *testing.T) {
	secret := newSecret(t)
	r := newReceiver(t, secret)
	for _, skew := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		s := sender(r.srv.URL, secret, func() time.Time { return time.Now().Add(skew) })
		if err := s.Publish(t.Context(), event("github")); err == nil {
			t.Fatalf("skew %v: delivered", skew)
		}
	}
	if len(r.accepted) != 0 || len(r.refused) != 2 || !errors.Is(r.refused[0], webhook.ErrStale) || !errors.Is(r.refused[1], webhook.ErrStale) {
		t.Fatalf("accepted %d, refused %v", len(r.accepted), r.refused)
	}
}

// TestWebhookSecretAndURLRules: the signing secret must be whsec_ and
// base64 of at least 24 bytes, and its errors never quote it; the URL must
// be https (http only to loopback when insecure URLs are allowed).
func TestWebhookSecretAndURLRules(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789"))
	for _, s := range []string{"", "plain-secret-value-of-enough-length-here", "whsec_***notbase64***", short} {
		_, err := webhook.ParseSecret(s)
		if !errors.Is(err, webhook.ErrKey) {
			t.Errorf("ParseSecret(%q): %v", s, err)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
	for raw, insecure := range map[string]bool{"https://hooks.example.com/x": false, "http://127.0.0.1:9/x": true} {
		if err := webhook.CheckURL(raw, insecure); err != nil {
			t.Errorf("CheckURL(%q): %v", raw, err)
		}
	}
	for _, raw := range []string{"http://hooks.example.com/x", "ftp://x", "/relative", "http://127.0.0.1:9/x"} {
		if err := webhook.CheckURL(raw, raw == "http://hooks.example.com/x"); err == nil {
			t.Errorf("CheckURL(%q) accepted", raw)
		}
	}
}

// TestWebhookSenderRefusesMetadataAddress: the webhook goes through the
// guarded outbound client, so even an operator's URL cannot reach the
// metadata server.
func TestWebhookSenderRefusesMetadataAddress(t *testing.T) {
	s := sender("http://169.254.169.254/computeMetadata/v1/", newSecret(t), nil)
	err := s.Publish(t.Context(), event("github"))
	if !errors.Is(err, netguard.ErrForbidden) {
		t.Fatalf("publish to the metadata server: %v", err)
	}
}

// TestVerifierRefusesWithoutKey: a receiver whose key did not load (empty
// or short) refuses even a delivery signed with that same empty key, which
// anyone can make.
func TestVerifierRefusesWithoutKey(t *testing.T) {
	body := []byte(`{"type":"connector.deleted"}`)
	now := time.Now()
	for _, key := range [][]byte{nil, []byte("short")} {
		h := http.Header{}
		h.Set(webhook.HeaderID, "msg_forged")
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(webhook.HeaderSignature, webhook.Sign(key, "msg_forged", now.Unix(), body))
		if err := (&webhook.Verifier{Key: key}).Verify(h, body); !errors.Is(err, webhook.ErrKey) {
			t.Errorf("key of %d bytes: Verify = %v, want ErrKey", len(key), err)
		}
	}
}
