package catalog

import (
	"context"

	"connectors.dev/connectors/shared/events"
)

// With events on (Catalog.Events), a create, update or delete writes its
// event into the store's outbox in the same transaction as its metadata
// write, the commit point, so that an event exists exactly when its
// mutation committed; delivery follows, off the mutation's path: the
// mutation never waits for a publish, and an event a kick does not deliver
// stays in the outbox for the next one.

// Kicker starts delivering the outbox's events (events.Relay).
type Kicker interface {
	Kick(ctx context.Context)
}

// record returns ctx for the store write of an admin's mutation: asking
// for its event when events are on.
func (c *Catalog) record(ctx context.Context) context.Context {
	if c.Events == nil {
		return ctx
	}
	return events.Record(ctx)
}

// kick delivers what the mutation just recorded, if events are on.
func (c *Catalog) kick(ctx context.Context) {
	if c.Events != nil {
		c.Events.Kick(ctx)
	}
}
