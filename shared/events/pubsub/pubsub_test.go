package pubsub_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	ps "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/events/pubsub"
	"connectors.dev/connectors/shared/testenv"
	"connectors.dev/connectors/shared/testenv/emulator"
)

// TestMain has the Firestore and the Pub/Sub emulators: the named ones, or
// ones it starts.
func TestMain(m *testing.M) { os.Exit(emulator.MainPubSub(m)) }

const source = "//connectors.test/projects/" + testenv.Project

// topic is a new topic with one subscription, on the emulator.
type topic struct {
	id     string
	sub    string
	client *ps.Client
}

func newTopic(t testing.TB) *topic {
	t.Helper()
	emulator.NeedPubSub(t)
	ctx := context.Background()
	c, err := ps.NewClient(ctx, testenv.Project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id := strings.TrimSuffix(testenv.Prefix(), "-") + "-events"
	tp := &topic{id: id, sub: "projects/" + testenv.Project + "/subscriptions/" + id + "-sub", client: c}
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: pubsub.TopicName(testenv.Project, id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: tp.sub, Topic: pubsub.TopicName(testenv.Project, id), AckDeadlineSeconds: 60,
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

func (tp *topic) publisher(t testing.TB) *pubsub.Publisher {
	t.Helper()
	p := &pubsub.Publisher{Project: testenv.Project, Topic: tp.id, Source: source}
	t.Cleanup(func() { p.Close() })
	return p
}

// message is one pulled message.
type message struct {
	data  []byte
	attrs map[string]string
	ce    events.CloudEvent
}

// pull acknowledges and returns every message until none has come for a
// second and a half.
func (tp *topic) pull(t *testing.T) []message {
	t.Helper()
	var out []message
	quietSince := time.Now()
	for time.Since(quietSince) < 1500*time.Millisecond {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := tp.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: tp.sub, MaxMessages: 100})
		cancel()
		if err != nil || len(resp.ReceivedMessages) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		quietSince = time.Now()
		var acks []string
		for _, rm := range resp.ReceivedMessages {
			m := message{data: rm.Message.Data, attrs: rm.Message.Attributes}
			if err := json.Unmarshal(m.data, &m.ce); err != nil {
				t.Fatalf("message is not JSON: %v", err)
			}
			out = append(out, m)
			acks = append(acks, rm.AckId)
		}
		if err := tp.client.SubscriptionAdminClient.Acknowledge(context.Background(), &pubsubpb.AcknowledgeRequest{Subscription: tp.sub, AckIds: acks}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPublishIsStructuredCloudEvent: a published event arrives as a
// CloudEvents 1.0 structured-mode message: the envelope's attributes,
// subject = the connector's name, the data's allow-listed fields only, and
// the content-type attribute of the Pub/Sub binding.
func TestPublishIsStructuredCloudEvent(t *testing.T) {
	tp := newTopic(t)
	p := tp.publisher(t)
	active := false
	ev := events.New(events.CredentialFailing, events.Data{Name: "github", GrantType: "refresh_token", Revision: "r9", Active: &active, State: "failing", Code: "invalid_client"}, time.Now())
	if err := p.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	msgs := tp.pull(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.attrs["content-type"] != "application/cloudevents+json" {
		t.Errorf("attributes %v", m.attrs)
	}
	var raw map[string]any
	_ = json.Unmarshal(m.data, &raw)
	for k, want := range map[string]string{"specversion": "1.0", "id": ev.ID, "source": source, "type": "credential.failing", "subject": "github", "datacontenttype": "application/json"} {
		if raw[k] != want {
			t.Errorf("%s = %v, want %q", k, raw[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, raw["time"].(string)); err != nil {
		t.Errorf("time %v: %v", raw["time"], err)
	}
	data := raw["data"].(map[string]any)
	want := map[string]any{"name": "github", "grantType": "refresh_token", "revision": "r9", "active": false, "state": "failing", "code": "invalid_client"}
	if len(data) != len(want) {
		t.Errorf("data %v, want %v", data, want)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %v, want %v", k, data[k], v)
		}
	}
}
