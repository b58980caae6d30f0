package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/testenv"
)

func ptr[T any](v T) *T { return &v }

// secretsOf are the write-only values of the connectors these tests make;
// no published byte may contain one.
func secretValue(kind string, i int) string { return fmt.Sprintf("wo-%s-%d-7f3a9c", kind, i) }

func input(name string, i int) *connector.Input {
	return &connector.Input{
		Name: ptr(name), URL: ptr("https://auth.example.com/token"), GrantType: ptr("password"),
		ClientID: ptr("cid"), ClientSecret: ptr(secretValue("client", i)), Scope: ptr("read"), Agents: ptr([]string{"a"}),
		Username: ptr("user"), Password: ptr(secretValue("password", i)),
		ExtraParams: ptr(map[string]string{"audience": "api"}),
	}
}

// instance is one function instance: its own store client, catalog and
// relay publishing through its own Pub/Sub client.
type instance struct {
	cat   *catalog.Catalog
	relay *events.Relay
}

func newInstances(t *testing.T, b testenv.Backends, tp *topic, n int) []instance {
	t.Helper()
	out := make([]instance, n)
	for i := range out {
		ib := testenv.Instance(t, b)
		relay := &events.Relay{Outbox: ib.Store.(events.Outbox), Publisher: tp.publisher(t)}
		t.Cleanup(relay.Wait)
		out[i] = instance{
			cat:   &catalog.Catalog{Store: ib.Store, Secrets: ib.Secrets, Events: relay},
			relay: relay,
		}
	}
	return out
}

// checkNoSecret fails when a published message holds a write-only value.
func checkNoSecret(t *testing.T, msgs []message, n int) {
	t.Helper()
	for _, m := range msgs {
		for i := 0; i < n; i++ {
			for _, kind := range []string{"client", "password", "client2"} {
				if strings.Contains(string(m.data), secretValue(kind, i)) {
					t.Fatalf("a published event holds a write-only value: %s", m.data)
				}
			}
		}
		if strings.Contains(string(m.data), "secretId") || strings.Contains(string(m.data), "audience") {
			t.Fatalf("a published event holds a field off the allow-list: %s", m.data)
		}
	}
}

// TestOutboxOneMessagePerMutationAcrossFourInstances: four instances, each
// with its own store client, catalog and relay, create, update (four of
// them at once on one connector), rename and delete connectors; the
// subscription gets exactly one message per committed mutation, each with
// its own ID, the right type and subject, and no write-only value.
func TestOutboxOneMessagePerMutationAcrossFourInstances(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		tp := newTopic(t)
		ins := newInstances(t, b, tp, 4)
		ctx := t.Context()
		want := map[string]int{}
		var mu sync.Mutex
		count := func(typ, subject string) {
			mu.Lock()
			want[typ+" "+subject]++
			mu.Unlock()
		}
		run := func(f func(i int) error) {
			var wg sync.WaitGroup
			errs := make([]error, len(ins))
			for i := range ins {
				wg.Go(func() { errs[i] = f(i) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		run(func(i int) error {
			_, err := ins[i].cat.Create(ctx, input(fmt.Sprintf("conn_%d", i), i), "tester")
			count(events.ConnectorCreated, fmt.Sprintf("conn_%d", i))
			return err
		})
		// Each instance updates another's connector, secrets included.
		run(func(i int) error {
			name := fmt.Sprintf("conn_%d", (i+1)%4)
			_, err := ins[i].cat.Update(ctx, name, "", &connector.Input{Scope: ptr("write"), ClientSecret: ptr(secretValue("client2", i))}, "tester")
			count(events.ConnectorUpdated, name)
			return err
		})
		// All four update one connector at once: four commits, four events.
		run(func(i int) error {
			_, err := ins[i].cat.Update(ctx, "conn_0", "", &connector.Input{Scope: ptr(fmt.Sprintf("s%d", i))}, "tester")
			count(events.ConnectorUpdated, "conn_0")
			return err
		})
		if _, err := ins[2].cat.Update(ctx, "conn_2", "", &connector.Input{Name: ptr("conn_2b")}, "tester"); err != nil {
			t.Fatal(err)
		}
		count(events.ConnectorUpdated, "conn_2b")
		if err := ins[3].cat.Delete(ctx, "conn_3", ""); err != nil {
			t.Fatal(err)
		}
		count(events.ConnectorDeleted, "conn_3")
		// A refused mutation commits nothing and says nothing.
		if _, err := ins[1].cat.Create(ctx, input("conn_1", 1), "tester"); err == nil {
			t.Fatal("duplicate create succeeded")
		}
		for _, in := range ins {
			in.relay.Wait()
		}

		msgs := tp.pull(t)
		total := 0
		for _, n := range want {
			total += n
		}
		got := map[string]int{}
		ids := map[string]bool{}
		for _, m := range msgs {
			got[m.ce.Type+" "+m.ce.Subject]++
			if ids[m.ce.ID] {
				t.Errorf("event %s delivered twice", m.ce.ID)
			}
			ids[m.ce.ID] = true
			if m.ce.Type == events.ConnectorUpdated && m.ce.Subject == "conn_2b" && m.ce.Data.PreviousName != "conn_2" {
				t.Errorf("rename event without previousName: %s", m.data)
			}
		}
		if len(msgs) != total || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %d messages %v, want %d %v", len(msgs), got, total, want)
		}
		checkNoSecret(t, msgs, 4)
		// Nothing is left to deliver.
		if n, err := ins[0].relay.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("outbox after delivery: %d pending, %v", n, err)
		}
	})
}

// stalled records events but never delivers them: the instance is gone
// (crashed, or frozen once its response was sent) after the commit.
type stalled struct{}

func (stalled) Kick(context.Context) {}

// TestOutboxEventSurvivesCrashBetweenCommitAndPublish: mutations whose
// instance never publishes (nor even claims) leave their events in the
// outbox; a relay that drains later delivers each exactly once. An
// instance that claimed events and died before publishing holds them only
// for its lease: another relay gets them once it has run out.
func TestOutboxEventSurvivesCrashBetweenCommitAndPublish(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		tp := newTopic(t)
		ctx := t.Context()
		crashed := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Events: stalled{}}
		if _, err := crashed.Create(ctx, input("svc", 0), "tester"); err != nil {
			t.Fatal(err)
		}
		if _, err := crashed.Update(ctx, "svc", "", &connector.Input{Active: ptr(false)}, "tester"); err != nil {
			t.Fatal(err)
		}
		if msgs := tp.pull(t); len(msgs) != 0 {
			t.Fatalf("%d messages before any drain", len(msgs))
		}

		// A second instance claims them and dies before publishing.
		now := time.Now()
		outbox := testenv.Instance(t, b).Store.(events.Outbox)
		claimed, err := outbox.ClaimEvents(ctx, "dead-instance", now, time.Minute, 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claimed %d, %v", len(claimed), err)
		}
		later := &events.Relay{Outbox: testenv.Instance(t, b).Store.(events.Outbox), Publisher: tp.publisher(t), Now: func() time.Time { return now }}
		if n, err := later.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("drain within the dead claim's lease: %d, %v", n, err)
		}
		later.Now = func() time.Time { return now.Add(time.Minute + time.Second) }
		if n, err := later.Drain(ctx); err != nil || n != 2 {
			t.Fatalf("drain after the lease: %d, %v", n, err)
		}
		msgs := tp.pull(t)
		if len(msgs) != 2 || msgs[0].ce.ID == msgs[1].ce.ID {
			t.Fatalf("messages %d", len(msgs))
		}
		types := map[string]bool{msgs[0].ce.Type: true, msgs[1].ce.Type: true}
		if !types[events.ConnectorCreated] || !types[events.ConnectorUpdated] {
			t.Fatalf("types %v", types)
		}
		if msgs[0].ce.ID != claimed[0].ID && msgs[1].ce.ID != claimed[0].ID {
			t.Fatalf("redelivered under another ID")
		}
		checkNoSecret(t, msgs, 1)
		if n, _ := later.Drain(ctx); n != 0 {
			t.Fatalf("delivered again: %d", n)
		}
	})
}

// TestNoEventsWhenOff: a catalog without Events writes nothing to the
// outbox (the local run, a deployment without a topic or webhook), and a
// refresh-token rotation is no admin change, so it records nothing either.
func TestNoEventsWhenOff(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := t.Context()
		cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
		if _, err := cat.Create(ctx, input("svc", 0), "tester"); err != nil {
			t.Fatal(err)
		}
		on := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Events: stalled{}}
		conn, err := on.Update(ctx, "svc", "", &connector.Input{GrantType: ptr("refresh_token"), RefreshToken: ptr("rt-old"), ClientSecret: ptr("cs"), Username: ptr(""), Password: ptr("")}, "tester")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := on.RotateRefreshToken(ctx, conn, "rt-old", "rt-new"); err != nil {
			t.Fatal(err)
		}
		evs, err := b.Store.(events.Outbox).ClaimEvents(ctx, "x", time.Now(), time.Minute, 10)
		if err != nil || len(evs) != 1 || evs[0].Type != events.ConnectorUpdated {
			t.Fatalf("outbox holds %+v, %v; want only the admin's update", evs, err)
		}
	})
}
