package pubsub_test

import (
	"fmt"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/testenv"
)

// BenchmarkMutation measures an admin's create and metadata-only update
// with events off and on (the outbox write in the transaction, delivery in
// the background to the Pub/Sub emulator), on each backend:
//
//	go test -run '^$' -bench Mutation -benchtime 200x ./shared/events/pubsub/
func BenchmarkMutation(b *testing.B) {
	for _, kind := range testenv.Kinds {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/events=%v", kind, on), func(b *testing.B) {
				be := testenv.New(b, kind)
				cat := &catalog.Catalog{Store: be.Store, Secrets: be.Secrets}
				if on {
					relay := &events.Relay{Outbox: be.Store.(events.Outbox), Publisher: newTopic(b).publisher(b)}
					b.Cleanup(relay.Wait)
					cat.Events = relay
				}
				ctx := b.Context()
				if _, err := cat.Create(ctx, input("bench", 0), "b"); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := cat.Update(ctx, "bench", "", &connector.Input{Scope: ptr(fmt.Sprint("s", i))}, "b"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
