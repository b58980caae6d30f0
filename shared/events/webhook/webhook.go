// Package webhook delivers events (shared/events) to an HTTPS endpoint, for
// receivers outside Google Cloud, signed per the Standard Webhooks
// specification (https://www.standardwebhooks.com, v1 symmetric
// signatures):
//
//	webhook-id:        the event ID (the same on a redelivery)
//	webhook-timestamp: Unix seconds when this delivery was signed
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// The body is the CloudEvent in structured JSON mode. The key is the
// secret "whsec_<base64>" both sides hold (at least 24 bytes once
// decoded); the sender reads it from Secret Manager. Verify is what a
// receiver runs: a signature over the timestamp limits a captured request
// to the tolerance window, and remembering IDs inside the window refuses
// its replay.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	secretPrefix    = "whsec_"
	minKeyBytes     = 24
	// DefaultTolerance is how far a delivery's timestamp may be from the
	// receiver's clock, the specification's suggestion.
	DefaultTolerance = 5 * time.Minute
)

// Verification failures, each its own sentinel so a receiver can log why.
var (
	ErrSignature = errkind.New(errkind.Unauthenticated, "webhook: no valid signature", HeaderSignature, "no signature matches")
	ErrStale     = errkind.New(errkind.Unauthenticated, "webhook: timestamp outside the tolerance", HeaderTimestamp, "is too old or too far in the future")
	ErrReplay    = errkind.New(errkind.Unauthenticated, "webhook: delivery replayed", HeaderID, "was already delivered")
	ErrMalformed = errkind.New(errkind.InvalidArgument, "webhook: malformed delivery", "", "is missing or malformed")
	ErrKey       = errkind.New(errkind.InvalidArgument, "webhook: invalid signing secret", "secret", `must be "whsec_" and the base64 of at least 24 random bytes`)
)

// ParseSecret decodes a "whsec_<base64>" secret into the HMAC key. Its
// errors never quote the secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, secretPrefix) {
		return nil, fmt.Errorf("%w (no whsec_ prefix)", ErrKey)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w (not base64)", ErrKey)
	}
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("%w (%d bytes)", ErrKey, len(key))
	}
	return key, nil
}

// Sign returns the v1 signature of one delivery.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sender is an events.Publisher that POSTs each event to URL.
type Sender struct {
	URL string
	// Secret returns the "whsec_" secret; it is read on the first publish
	// and kept (a rotated secret takes effect on new instances).
	Secret func(ctx context.Context) (string, error)
	Source string
	// Client sends; nil means the guarded outbound client (shared/outbound)
	// with Policy: the webhook's address is an operator's setting, but it
	// gets the same refusal of metadata and link-local addresses as a
	// connector's endpoint.
	Client *http.Client
	Policy netguard.Policy
	// Now is replaceable in tests.
	Now func() time.Time

	mu     sync.Mutex
	key    []byte
	client *http.Client
}

var _ events.Publisher = (*Sender)(nil)

// CheckURL refuses a webhook URL that is not https (http only to loopback
// with insecure allowed, for development).
func CheckURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("webhook URL: must be an absolute https URL")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowInsecure && netguard.IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("webhook URL: must be https (http only to loopback, with insecure URLs allowed)")
}

func (s *Sender) setup(ctx context.Context) ([]byte, *http.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		raw, err := s.Secret(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: webhook: read the signing secret: %w", events.ErrUnavailable, err)
		}
		key, err := ParseSecret(raw)
		if err != nil {
			return nil, nil, err
		}
		s.key = key
	}
	if s.client == nil {
		s.client = s.Client
		if s.client == nil {
			s.client = outbound.NewClient(outbound.Options{Policy: s.Policy})
		}
	}
	return s.key, s.client, nil
}

// Publish signs and POSTs e; any status but 2xx is a failure, for the
// outbox to retry.
func (s *Sender) Publish(ctx context.Context, e events.Event) error {
	body, err := events.Encode(s.Source, e)
	if err != nil {
		return err
	}
	key, client, err := s.setup(ctx)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", events.ContentType)
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(key, e.ID, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: webhook: deliver %s: %w", events.ErrUnavailable, e.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		// The receiver's body is not quoted: it is theirs, and may echo.
		return fmt.Errorf("%w: webhook: deliver %s: status %d", events.ErrUnavailable, e.ID, resp.StatusCode)
	}
	return nil
}

// Verifier checks deliveries for a receiver. It is safe for concurrent
// use; one Verifier must see every delivery of an endpoint for the replay
// check to hold (a receiver with several instances shares the seen IDs
// some other way, or dedupes on the event id downstream).
type Verifier struct {
	Key       []byte
	Tolerance time.Duration // DefaultTolerance when zero
	Now       func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
}

// Verify checks a delivery's headers and body: a fresh timestamp, a v1
// signature that matches (compared in constant time), and an ID not seen
// within the window. A delivery that fails is not remembered.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	if len(v.Key) < minKeyBytes {
		// An empty or short key is one anyone can sign with: a receiver
		// that failed to load its secret must refuse, not accept.
		return fmt.Errorf("%w (%d bytes)", ErrKey, len(v.Key))
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || len(id) > 256 || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: %s, %s and %s are required", ErrMalformed, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrMalformed, HeaderTimestamp)
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-tol)) || at.After(now.Add(tol)) {
		return ErrStale
	}
	want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(Sign(v.Key, id, ts, body), "v1,"))
	ok := false
	for _, s := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(s, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	for k, t := range v.seen {
		// Beyond the window a replay is refused as stale anyway.
		if t.Before(now.Add(-2 * tol)) {
			delete(v.seen, k)
		}
	}
	if _, dup := v.seen[id]; dup {
		return ErrReplay
	}
	v.seen[id] = at
	return nil
}
