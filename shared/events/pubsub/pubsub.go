// Package pubsub publishes events (shared/events) to a Google Cloud
// Pub/Sub topic as CloudEvents in structured mode: the message data is
// the CloudEvent's JSON and its content-type attribute
// application/cloudevents+json, as the CloudEvents Pub/Sub binding says.
//
// Pub/Sub delivers at least once, and the outbox may publish an event
// again after a crash: subscribers dedupe on the CloudEvent id, which is
// the same on every delivery of one transition.
package pubsub

import (
	"context"
	"fmt"
	"strings"
	"sync"

	ps "cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/events"
)

// Publisher is an events.Publisher on one topic. Its client is made on
// the first publish, so a function that never mutates never dials
// Pub/Sub. PUBSUB_EMULATOR_HOST, when set, points it at an emulator.
type Publisher struct {
	// Project holds the topic; Topic is its ID, or its full name
	// (projects/P/topics/T).
	Project string
	Topic   string
	// Source is the CloudEvents source of every event.
	Source  string
	Options []option.ClientOption

	mu     sync.Mutex
	client *ps.Client
	pub    *ps.Publisher
}

var _ events.Publisher = (*Publisher)(nil)

// TopicName is the full name of topic (an ID or a full name) in project.
func TopicName(project, topic string) string {
	if strings.HasPrefix(topic, "projects/") {
		return topic
	}
	return "projects/" + project + "/topics/" + topic
}

func (p *Publisher) publisher(ctx context.Context) (*ps.Publisher, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub != nil {
		return p.pub, nil
	}
	// The client outlives the request that made it.
	c, err := ps.NewClient(context.WithoutCancel(ctx), p.Project, p.Options...)
	if err != nil {
		return nil, fmt.Errorf("%w: pubsub: new client: %w", events.ErrUnavailable, err)
	}
	p.client = c
	p.pub = c.Publisher(TopicName(p.Project, p.Topic))
	// The relay publishes one event and waits for its acknowledgement
	// before the next: batching would only add its delay to each.
	p.pub.PublishSettings.CountThreshold = 1
	return p.pub, nil
}

// Publish sends e and waits for the server's acknowledgement.
func (p *Publisher) Publish(ctx context.Context, e events.Event) error {
	body, err := events.Encode(p.Source, e)
	if err != nil {
		return err
	}
	pub, err := p.publisher(ctx)
	if err != nil {
		return err
	}
	res := pub.Publish(ctx, &ps.Message{Data: body, Attributes: map[string]string{"content-type": events.ContentType}})
	if _, err := res.Get(ctx); err != nil {
		return fmt.Errorf("%w: pubsub: publish %s %s to %s: %w", events.ErrUnavailable, e.Type, e.ID, p.Topic, err)
	}
	return nil
}

// Close flushes and closes the client, if one was made.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub == nil {
		return nil
	}
	p.pub.Stop()
	err := p.client.Close()
	p.pub, p.client = nil, nil
	if err != nil {
		return fmt.Errorf("pubsub: close: %w", err)
	}
	return nil
}
