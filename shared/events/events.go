// Package events tells the world outside the service what happened to its
// connectors, as CloudEvents 1.0 in structured JSON mode: an envelope
// (specversion, id, source, type, time, subject, datacontenttype) around a
// small data object.
//
// The data is built from an allow-list of connector fields (Data), never
// from the connector itself, so that no field added to a connector later,
// and no write-only value, can reach a subscriber: a secret has no field to
// travel in.
//
// Delivery is at least once. The connector.* events are written by the
// store in the same transaction as the mutation (an outbox, outbox.go) and
// a Relay publishes and then forgets them, so a crash between the commit
// and the publish delays an event but never loses it; a crash between the
// publish and the forget publishes it again with the same id, which is
// how subscribers tell a redelivery (Pub/Sub redelivers too): they dedupe
// on id.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
)

// The event types.
const (
	ConnectorCreated         = "connector.created"
	ConnectorUpdated         = "connector.updated"
	ConnectorDeleted         = "connector.deleted"
	CredentialFailing        = "credential.failing"
	CredentialRecovered      = "credential.recovered"
	CredentialNeedsReconnect = "credential.needs_reconnect"
	specVersion              = "1.0"
	dataContentType          = "application/json"
	ContentType              = "application/cloudevents+json"
	unrecognizedCode         = "unrecognized"
)

var knownTypes = map[string]bool{
	ConnectorCreated: true, ConnectorUpdated: true, ConnectorDeleted: true,
	CredentialFailing: true, CredentialRecovered: true, CredentialNeedsReconnect: true,
}

// Types lists every event type, for documentation and tests.
func Types() []string {
	return []string{ConnectorCreated, ConnectorUpdated, ConnectorDeleted, CredentialFailing, CredentialRecovered, CredentialNeedsReconnect}
}

// codePattern is what an error code looks like (invalid_grant,
// upstream_timeout, http_503): a provider's free text, which may echo a
// request and so a secret, is never one.
var codePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Data is everything an event says about its connector: the allow-list.
// Adding a field here is a decision that it may leave the service.
type Data struct {
	Name string `json:"name"`
	// PreviousName is set on the connector.updated of a rename.
	PreviousName string `json:"previousName,omitempty"`
	// GrantType is the connector's type.
	GrantType string `json:"grantType,omitempty"`
	Revision  string `json:"revision,omitempty"`
	Active    *bool  `json:"active,omitempty"`
	// State and Code are the connector's health (ok, failing,
	// needs_reconnect) and the error code of its last failure.
	State string `json:"state,omitempty"`
	Code  string `json:"code,omitempty"`
}

// FromConnector is the Data of c: the allow-listed fields only.
func FromConnector(c *connector.Connector) Data {
	active := c.Active
	return Data{Name: c.Name, GrantType: c.GrantType, Revision: c.Revision, Active: &active}
}

// Event is one thing that happened to one connector (Data.Name, the
// CloudEvent's subject).
type Event struct {
	// ID is unique per transition and stays the same on redelivery.
	ID   string
	Type string
	Time time.Time
	Data Data
}

// New returns an event of typ about d, with a fresh ID and the current
// time.
func New(typ string, d Data, now time.Time) Event {
	return Event{ID: NewID(now), Type: typ, Time: now.UTC(), Data: d}
}

// NewID returns an event ID that sorts by time (hex nanoseconds, then 64
// random bits), so an outbox keyed by it drains oldest first.
func NewID(now time.Time) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("%016x", uint64(now.UnixNano())) + hex.EncodeToString(b)
}

// CloudEvent is the structured-mode JSON of an event.
type CloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Time            string `json:"time"`
	Subject         string `json:"subject"`
	DataContentType string `json:"datacontenttype"`
	Data            Data   `json:"data"`
}

// ErrInvalid is an event that cannot be published as it is.
var ErrInvalid = errkind.New(errkind.InvalidArgument, "invalid event", "event", "is not a publishable event")

// ErrUnavailable is a publish the destination did not accept (an
// unreachable server, a refusal): the event stays for a retry.
var ErrUnavailable = errkind.New(errkind.Unavailable, "event delivery failed", "", "event delivery is unavailable")

// Check validates e; a code that is not a short token is replaced by
// "unrecognized" rather than refused, so that a provider's odd answer
// never loses the event, nor travels in it.
func Check(e *Event) error {
	switch {
	case !knownTypes[e.Type]:
		return fmt.Errorf("%w: type %q is not one of %v", ErrInvalid, e.Type, Types())
	case e.ID == "" || len(e.ID) > 128:
		return fmt.Errorf("%w: id must be 1 to 128 characters", ErrInvalid)
	case e.Data.Name == "":
		return fmt.Errorf("%w: data.name (the subject) is empty", ErrInvalid)
	case !validState(e.Data.State):
		return fmt.Errorf("%w: data.state %q is not ok, failing or needs_reconnect", ErrInvalid, e.Data.State)
	}
	if e.Data.Code != "" && !codePattern.MatchString(e.Data.Code) {
		e.Data.Code = unrecognizedCode
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: time is unset", ErrInvalid)
	}
	return nil
}

// Encode returns e as a CloudEvent from source, in structured JSON mode.
func Encode(source string, e Event) ([]byte, error) {
	if err := Check(&e); err != nil {
		return nil, err
	}
	if source == "" {
		return nil, fmt.Errorf("%w: source is empty", ErrInvalid)
	}
	return json.Marshal(CloudEvent{
		SpecVersion: specVersion, ID: e.ID, Source: source, Type: e.Type,
		Time: e.Time.UTC().Format(time.RFC3339Nano), Subject: e.Data.Name,
		DataContentType: dataContentType, Data: e.Data,
	})
}

// Decode parses a CloudEvent as Encode writes it.
func Decode(b []byte) (CloudEvent, error) {
	var ce CloudEvent
	if err := json.Unmarshal(b, &ce); err != nil {
		return ce, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if ce.SpecVersion != specVersion || ce.ID == "" || ce.Type == "" {
		return ce, fmt.Errorf("%w: not a CloudEvent 1.0", ErrInvalid)
	}
	return ce, nil
}

// Publisher delivers events somewhere. Publish returns once the event is
// accepted (a Pub/Sub server's ack, a webhook's 2xx) or with an error;
// callers retry with the same event, whose ID stays the same.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// Multi publishes to each of its publishers; it fails when any fails (the
// ones that succeeded then see the event again on the retry, under the
// same ID).
type Multi []Publisher

// Publish implements Publisher.
func (m Multi) Publish(ctx context.Context, e Event) error {
	var errs []error
	for _, p := range m {
		if err := p.Publish(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HealthTransition is the event of a connector's health moving from one
// state to another (ok, failing, needs_reconnect), as the store that
// committed the move sees it: credential.failing, credential.recovered
// (back to ok) or credential.needs_reconnect; false when the state did not
// change.
func HealthTransition(name, from, to, code string, now time.Time) (Event, bool) {
	var typ string
	switch {
	case from == to:
		return Event{}, false
	case to == string(connector.HealthFailing):
		typ = CredentialFailing
	case to == string(connector.HealthOK):
		typ = CredentialRecovered
	case to == string(connector.HealthNeedsReconnect):
		typ = CredentialNeedsReconnect
	default:
		return Event{}, false
	}
	d := Data{Name: name, State: to}
	if to != string(connector.HealthOK) {
		d.Code = code
	}
	return New(typ, d, now), true
}

// validState reports whether s is a health state or none.
func validState(s string) bool {
	_, err := connector.ParseHealthState(s)
	return err == nil
}
