package events

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Outbox is where a store keeps the events it committed with their
// mutations until a Relay has delivered them. Both connector stores
// implement it, in the database that holds the connectors, so that an
// event and its mutation commit together or not at all.
//
// A credential.* event is exactly once per transition the same way: the
// store write that moves a connector's health state (conditional on the
// state read, so that of several instances seeing the same failure one
// wins) writes the event in its transaction (the stores' recordEvent),
// and the relay delivers it.
type Outbox interface {
	// ClaimEvents leases up to limit pending events, oldest first, to
	// owner until now+lease: no other claim gets them before then, and
	// once then has passed (their claimer crashed, or failed to publish)
	// any claim does. A claim is atomic across instances.
	ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Event, error)
	// EventDelivered forgets a delivered event; an absent ID is no error.
	EventDelivered(ctx context.Context, id string) error
}

type recordKey struct{}

// Record returns ctx asking the store mutation it is passed to to write
// the mutation's event into its outbox, in the same transaction. The
// catalog asks it for an admin's create, update and delete; writes that
// are not an admin's change (a rotated refresh token) do not.
func Record(ctx context.Context) context.Context {
	return context.WithValue(ctx, recordKey{}, true)
}

// Recording reports whether ctx came from Record.
func Recording(ctx context.Context) bool {
	v, _ := ctx.Value(recordKey{}).(bool)
	return v
}

// Relay defaults.
const (
	DefaultLease     = 30 * time.Second
	DefaultBatch     = 50
	drainTimeout     = 20 * time.Second
	maxDrainsPerKick = 20
)

// Relay delivers an Outbox's events to a Publisher: claim, publish,
// forget. Many instances may run one on the same outbox; the claim makes
// each event go out once unless its claimer dies between publishing and
// forgetting it (then again, with the same ID, after the lease).
type Relay struct {
	Outbox    Outbox
	Publisher Publisher
	// Lease is how long a claim holds (DefaultLease): longer than a
	// publish takes, short enough that a crashed claimer's events go out
	// soon after.
	Lease time.Duration
	Log   *slog.Logger
	// Now is replaceable in tests.
	Now func() time.Time

	ownerOnce sync.Once
	owner     string
	mu        sync.Mutex
	running   bool
	again     bool
	wg        sync.WaitGroup
}

func (r *Relay) id() string {
	r.ownerOnce.Do(func() { r.owner = rand.Text() })
	return r.owner
}

func (r *Relay) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Relay) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Drain delivers pending events until none is left or one fails to
// publish (it stays, for a later drain after its lease); it returns how
// many it delivered.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	lease := r.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	n := 0
	for {
		evs, err := r.Outbox.ClaimEvents(ctx, r.id(), r.now(), lease, DefaultBatch)
		if err != nil {
			return n, fmt.Errorf("events: claim: %w", err)
		}
		if len(evs) == 0 {
			return n, nil
		}
		for _, e := range evs {
			if err := r.Publisher.Publish(ctx, e); err != nil {
				return n, fmt.Errorf("events: publish %s %s: %w", e.Type, e.ID, err)
			}
			if err := r.Outbox.EventDelivered(ctx, e.ID); err != nil {
				// Published: the worst outcome is a redelivery after the
				// lease, under the same ID.
				r.log().Warn("events: forget a delivered event", "eventId", e.ID, "error", err.Error())
			}
			n++
		}
	}
}

// Kick drains in the background, off the mutation's path, detached from
// ctx's cancellation: kicks while a drain runs make it run once more
// rather than start another. What a kick fails to deliver (a publish
// error, an instance frozen or stopped after its response) stays in the
// outbox for the next kick on any instance.
func (r *Relay) Kick(ctx context.Context) {
	r.mu.Lock()
	if r.running {
		r.again = true
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i := 0; i < maxDrainsPerKick; i++ {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			if _, err := r.Drain(dctx); err != nil {
				r.log().Warn("events: delivery failed; the events stay in the outbox", "error", err.Error())
			}
			cancel()
			r.mu.Lock()
			if !r.again {
				r.running = false
				r.mu.Unlock()
				return
			}
			r.again = false
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.running, r.again = false, false
		r.mu.Unlock()
	}()
}

// Wait returns once no drain started by Kick is running (tests, shutdown).
func (r *Relay) Wait() { r.wg.Wait() }
