package pubsub_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/testenv"
)

// TestHealthTransitionsOneEventEach: four instances see the same provider
// refusal at once, then the same recovery, then a dead grant; the
// subscription gets exactly one credential.failing, one
// credential.recovered and one credential.needs_reconnect, each with the
// code and no provider text, and nothing for outcomes that moved no state.
func TestHealthTransitionsOneEventEach(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		tp := newTopic(t)
		ins := newInstances(t, b, tp, 4)
		ctx := t.Context()
		if _, err := ins[0].cat.Create(ctx, input("health_0", 0), "tester"); err != nil {
			t.Fatal(err)
		}
		conn, err := ins[0].cat.Get(ctx, "health_0")
		if err != nil {
			t.Fatal(err)
		}
		// Each instance reports the outcome at once, as new (none has
		// written it yet), so each writes; only the write that moves the
		// stored state records an event. The emulator serialises four
		// transactions on one record slowly beside the outbox's claims:
		// a bound well past the default's 2 s.
		for i := range ins {
			ins[i].cat.HealthTimeout = time.Minute
		}
		all := func(code string, reconnect bool) {
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range ins {
				wg.Go(func() {
					<-start
					ins[i].cat.RecordMint(ctx, conn, code, reconnect)
				})
			}
			close(start)
			wg.Wait()
		}
		all("invalid_client", false) // ok → failing, seen by four
		all("invalid_client", false) // still failing: no transition
		all("", false)               // failing → ok
		all("", false)               // still ok
		all("invalid_grant", true)   // ok → needs_reconnect
		for _, in := range ins {
			in.relay.Wait()
		}
		got := map[string]int{}
		for _, m := range tp.pull(t) {
			if m.ce.Subject != "health_0" {
				continue
			}
			got[fmt.Sprintf("%s state=%s code=%s", m.ce.Type, m.ce.Data.State, m.ce.Data.Code)]++
		}
		want := map[string]int{
			events.ConnectorCreated + " state= code=":                                     1,
			events.CredentialFailing + " state=failing code=invalid_client":               1,
			events.CredentialRecovered + " state=ok code=":                                1,
			events.CredentialNeedsReconnect + " state=needs_reconnect code=invalid_grant": 1,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events:\n got  %v\n want %v", got, want)
		}
	})
}
