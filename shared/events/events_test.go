package events_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/events"
)

const source = "//connectors.test"

// TestEventRefusesUnknownTypeAndScrubsCode: an unknown type or state is
// not published; an error code that is not a short token (a provider's
// free text may echo a secret) travels as "unrecognized".
func TestEventRefusesUnknownTypeAndScrubsCode(t *testing.T) {
	ev := events.New("connector.exploded", events.Data{Name: "x"}, time.Now())
	if _, err := events.Encode(source, ev); err == nil || !strings.Contains(err.Error(), "type") {
		t.Errorf("unknown type: %v", err)
	}
	ev = events.New(events.CredentialFailing, events.Data{Name: "x", State: "broken"}, time.Now())
	if _, err := events.Encode(source, ev); err == nil || !strings.Contains(err.Error(), "data.state") {
		t.Errorf("unknown state: %v", err)
	}
	ev = events.New(events.CredentialFailing, events.Data{}, time.Now())
	if _, err := events.Encode(source, ev); err == nil || !strings.Contains(err.Error(), "data.name") {
		t.Errorf("no subject: %v", err)
	}
	const leaked = "client_secret=s3cr3t-value rejected"
	ev = events.New(events.CredentialFailing, events.Data{Name: "x", State: "failing", Code: leaked}, time.Now())
	b, err := events.Encode(source, ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t") || !strings.Contains(string(b), `"code":"unrecognized"`) {
		t.Errorf("code not scrubbed: %s", b)
	}
	if ce, err := events.Decode(b); err != nil || ce.ID != ev.ID || ce.Subject != "x" {
		t.Errorf("Decode: %+v, %v", ce, err)
	}
}

// flaky fails while down, and records what it published.
type flaky struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (f *flaky) Publish(_ context.Context, e events.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return events.ErrUnavailable
	}
	f.got = append(f.got, e.ID)
	return nil
}

// TestRelayKeepsWhatItCannotPublish: events recorded while the
// destination is down stay in the outbox, leased for a while, and go out
// once each, oldest first, when it is back; a burst of kicks delivers
// everything once.
func TestRelayKeepsWhatItCannotPublish(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := events.Record(context.Background())
	for _, name := range []string{"a", "b", "c"} {
		if _, err := store.Create(ctx, connectorNamed(name)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	pub := &flaky{down: true}
	relay := &events.Relay{Outbox: store, Publisher: pub, Lease: time.Minute, Now: func() time.Time { return now }}
	if n, err := relay.Drain(ctx); n != 0 || !errors.Is(err, events.ErrUnavailable) {
		t.Fatalf("drain while down: %d, %v", n, err)
	}
	pub.down = false
	if n, err := relay.Drain(ctx); n != 0 || err != nil {
		t.Fatalf("drain within the lease: %d, %v", n, err)
	}
	relay.Now = func() time.Time { return now.Add(2 * time.Minute) }
	for range 10 {
		relay.Kick(context.Background())
	}
	relay.Wait()
	if len(pub.got) != 3 || !(pub.got[0] < pub.got[1] && pub.got[1] < pub.got[2]) {
		t.Fatalf("published %v; want three, oldest first", pub.got)
	}
	if n, _ := relay.Drain(ctx); n != 0 {
		t.Fatalf("%d delivered again", n)
	}
}
