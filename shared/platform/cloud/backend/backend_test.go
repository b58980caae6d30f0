package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestFromEnvNamesTheMissingSetting(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "GOOGLE_CLOUD_PROJECT"},
		{map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_ADMINS": "group:admins@example.com"}, "CONNECTORS_ADMINS"},
		{map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_TOKEN_TIMEOUT": "soon"}, "CONNECTORS_TOKEN_TIMEOUT"},
	}
	for _, c := range cases {
		_, err := FromEnv(context.Background(), func(k string) string { return c.env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: error %v, want one naming %s", c.env, err, c.want)
		}
	}
}

// TestUnboundAgentsWarnAtStart: without agent bindings every agent principal
// may act for every agent ID; a function starting that way says so once,
// as a warning, and one with bindings does not.
func TestUnboundAgentsWarnAtStart(t *testing.T) {
	for _, c := range []struct {
		bindings string
		warn     bool
	}{
		{"", true},
		{"mailer=sa@p.iam.gserviceaccount.com", false},
	} {
		var logs bytes.Buffer
		env := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_AGENT_BINDINGS": c.bindings}
		// The backends may or may not connect here; the warning comes first.
		if p, err := fromEnv(context.Background(), func(k string) string { return env[k] }, &logs); err == nil {
			p.Store.Close()
		}
		var warned bool
		for line := range strings.Lines(logs.String()) {
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			msg, _ := entry["message"].(string)
			if strings.Contains(msg, "unbound agents") {
				warned = true
				if entry["severity"] != "WARNING" || !strings.Contains(msg, "CONNECTORS_AGENT_BINDINGS") {
					t.Errorf("warning %v: want severity WARNING naming CONNECTORS_AGENT_BINDINGS", entry)
				}
			}
		}
		if warned != c.warn {
			t.Errorf("bindings %q: warned %v, want %v; logs:\n%s", c.bindings, warned, c.warn, logs.String())
		}
	}
}
