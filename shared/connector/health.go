package connector

import (
	"context"
	"time"

	"connectors.dev/connectors/shared/errkind"
)

// A connector's health: what the last mints that went to the provider
// said. It is kept apart from the connector (HealthStore: its own document
// or bucket), because it changes with traffic, not with admins: a write to
// the connector itself would give it a new revision and move the catalog
// version, which makes every instance drop and re-read its cached
// connectors (docs/performance.md, "Cost at scale"). Health writes change
// neither, and no cached credential or connector depends on them.

// HealthState is a connector's state as admins see it.
type HealthState string

// The states. needs_reconnect is the connector's own NeedsReconnect mark
// (lifecycle.go), never a second copy of it.
const (
	HealthOK             HealthState = "ok"
	HealthFailing        HealthState = "failing"
	HealthNeedsReconnect HealthState = "needs_reconnect"
)

// ErrInvalidHealthState is the list filter's refusal of a state it does
// not know.
var ErrInvalidHealthState = errkind.New(errkind.InvalidArgument, "invalid health state", "state",
	"must be ok, failing or needs_reconnect")

// ParseHealthState validates a state filter ("" is no filter).
func ParseHealthState(s string) (HealthState, error) {
	switch st := HealthState(s); st {
	case "", HealthOK, HealthFailing, HealthNeedsReconnect:
		return st, nil
	}
	return "", ErrInvalidHealthState
}

// Health is the read-only part of a connector's wire form that tells how
// its mints fare; the catalog fills it from the HealthRecord on list and
// get. Stores never keep it with the connector.
type Health struct {
	State HealthState `json:"state,omitempty"`
	// StateSince is when State began, when known.
	StateSince          time.Time `json:"stateSince,omitzero"`
	LastSuccessAt       time.Time `json:"lastSuccessAt,omitzero"`
	LastFailureAt       time.Time `json:"lastFailureAt,omitzero"`
	LastErrorCode       string    `json:"lastErrorCode,omitempty"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
}

// HealthRecord is what a HealthStore keeps per connector name. State is
// the state its writes last decided (ok, failing, or needs_reconnect for a
// dead grant): the record of transitions, which decides which write owns
// an event. What admins see is Health, where needs_reconnect comes from
// the connector's mark alone.
type HealthRecord struct {
	State               HealthState `json:"state" firestore:"state"`
	StateSince          time.Time   `json:"stateSince" firestore:"stateSince"`
	LastSuccessAt       time.Time   `json:"lastSuccessAt" firestore:"lastSuccessAt"`
	LastFailureAt       time.Time   `json:"lastFailureAt" firestore:"lastFailureAt"`
	LastErrorCode       string      `json:"lastErrorCode" firestore:"lastErrorCode"`
	ConsecutiveFailures int         `json:"consecutiveFailures" firestore:"consecutiveFailures"`
	UpdatedAt           time.Time   `json:"updatedAt" firestore:"updatedAt"`
}

// Current is the record's state, ok when none was ever recorded.
func (r HealthRecord) Current() HealthState {
	if r.State == "" {
		return HealthOK
	}
	return r.State
}

// HealthDelta is what one instance saw of a connector's mints since its
// last health write: its latest success, and the failures after it.
type HealthDelta struct {
	At        time.Time // when the delta is written
	SuccessAt time.Time // the latest success; zero: none
	// Failures counts the failures after SuccessAt (all of them when
	// there is none); the last one is at FailureAt with Code, Reconnect
	// when it was a dead grant.
	Failures  int
	FailureAt time.Time
	Code      string
	Reconnect bool
}

// Add adds one mint's outcome at at: a success when code is "".
func (d *HealthDelta) Add(at time.Time, code string, reconnect bool) {
	if code == "" {
		d.SuccessAt, d.Failures, d.FailureAt, d.Code, d.Reconnect = at, 0, time.Time{}, "", false
		return
	}
	d.Failures++
	d.FailureAt, d.Code, d.Reconnect = at, code, reconnect
}

// Apply returns r after d. Instances write in any order, so an outcome
// older than the record's latest one of the other kind only moves its
// timestamp: the latest outcome decides the state.
func (r HealthRecord) Apply(d HealthDelta) HealthRecord {
	out := r
	out.UpdatedAt = d.At
	if d.SuccessAt.After(out.LastSuccessAt) {
		out.LastSuccessAt = d.SuccessAt
	}
	if d.Failures > 0 && d.FailureAt.After(out.LastFailureAt) {
		out.LastFailureAt, out.LastErrorCode = d.FailureAt, d.Code
	}
	var next HealthState
	switch {
	case d.Failures > 0 && !r.LastSuccessAt.After(d.FailureAt):
		if d.SuccessAt.IsZero() {
			out.ConsecutiveFailures = r.ConsecutiveFailures + d.Failures
		} else {
			out.ConsecutiveFailures = d.Failures
		}
		next = HealthFailing
		if d.Reconnect {
			next = HealthNeedsReconnect
		}
		if next != r.Current() || r.State == "" {
			out.StateSince = d.FailureAt
		}
	case d.Failures == 0 && !d.SuccessAt.IsZero() && !r.LastFailureAt.After(d.SuccessAt):
		out.ConsecutiveFailures = 0
		next = HealthOK
		if next != r.Current() || r.State == "" {
			out.StateSince = d.SuccessAt
		}
	default:
		return out // older than what another instance recorded
	}
	out.State = next
	return out
}

// View is the Health admins see of c given its record: needs_reconnect
// while c carries the mark; failing while the last outcome was a failure
// (a dead grant an admin has since reconnected included, until the next
// mint); ok otherwise.
func (r HealthRecord) View(c *Connector) Health {
	h := Health{LastSuccessAt: r.LastSuccessAt, LastFailureAt: r.LastFailureAt,
		LastErrorCode: r.LastErrorCode, ConsecutiveFailures: r.ConsecutiveFailures,
		State: HealthOK, StateSince: r.StateSince}
	switch {
	case c.NeedsReconnect:
		h.State, h.StateSince = HealthNeedsReconnect, c.NeedsReconnectSince
	case r.State == HealthFailing || r.State == HealthNeedsReconnect:
		h.State = HealthFailing
	}
	return h
}

// HealthStore keeps HealthRecords beside the connectors (both stores
// implement it). Its writes never touch a connector, its revision or the
// catalog version.
type HealthStore interface {
	// RecordHealth applies d to name's record in one transaction and
	// returns the record before and after: of concurrent writers, the one
	// whose write changed State is the only one that sees the change.
	RecordHealth(ctx context.Context, name string, d HealthDelta) (before, after HealthRecord, err error)
	// Health returns the records of names (absent ones are left out), in
	// one read.
	Health(ctx context.Context, names []string) (map[string]HealthRecord, error)
	// DeleteHealth forgets name's record; an absent one is no error.
	DeleteHealth(ctx context.Context, name string) error
}
