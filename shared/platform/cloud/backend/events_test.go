package backend

import (
	"strings"
	"testing"

	"connectors.dev/connectors/shared/config"
)

// TestEventSettings: no topic and no webhook is events off; a webhook needs
// its signing secret's name (and the secret's name its URL), an https URL,
// and a secret reference Secret Manager can name; each error names the
// setting at fault.
func TestEventSettings(t *testing.T) {
	cfg := config.Config{Project: "p"}
	for _, c := range []struct {
		env  map[string]string
		on   bool
		want string // "" for no error
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"CONNECTORS_EVENTS_TOPIC": "connectors-events"}, true, ""},
		{map[string]string{"CONNECTORS_WEBHOOK_URL": "https://hooks.example.com/c", "CONNECTORS_WEBHOOK_SECRET_NAME": "webhook-secret"}, true, ""},
		{map[string]string{"CONNECTORS_WEBHOOK_URL": "https://hooks.example.com/c"}, false, "CONNECTORS_WEBHOOK_SECRET_NAME"},
		{map[string]string{"CONNECTORS_WEBHOOK_SECRET_NAME": "webhook-secret"}, false, "CONNECTORS_WEBHOOK_URL"},
		{map[string]string{"CONNECTORS_WEBHOOK_URL": "http://hooks.example.com/c", "CONNECTORS_WEBHOOK_SECRET_NAME": "s"}, false, "CONNECTORS_WEBHOOK_URL: webhook URL: must be https"},
		{map[string]string{"CONNECTORS_WEBHOOK_URL": "https://hooks.example.com/c", "CONNECTORS_WEBHOOK_SECRET_NAME": "projects/p/secrets/s"}, false, "CONNECTORS_WEBHOOK_SECRET_NAME"},
	} {
		relay, err := eventsFromEnv(func(k string) string { return c.env[k] }, cfg, nil, nil, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.env, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one naming %s", c.env, err, c.want)
		case (relay != nil) != c.on:
			t.Errorf("%v: events on = %v, want %v", c.env, relay != nil, c.on)
		}
	}
}
