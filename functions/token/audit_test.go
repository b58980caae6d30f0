package token_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/testenv"
)

// TestTokenAudit: every mint request whose caller is known leaves one
// audit line, served or refused, naming principal, agent, connector,
// outcome and, when served, the cache layer and expiry; never the token
// (checkNoLeaks searches the logs for it when the test ends).
func TestTokenAudit(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t)
	e := newEnv(t, b, nil, 2*time.Second)
	e.create(clientCreds("Svc", p.srv.URL, "agent-1"))
	for _, agent := range []string{"agent-1", "agent-1", "agent-2"} {
		e.call(token.FnToken, map[string]any{"connector": "Svc", "agent": agent}, "")
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var entry struct {
			Audit     bool   `json:"audit"`
			Op        string `json:"op"`
			Principal string `json:"principal"`
			Agent     string `json:"agent"`
			Connector string `json:"connector"`
			Outcome   string `json:"outcome"`
			Cache     string `json:"cache"`
			ExpiresAt string `json:"expiresAt"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if !entry.Audit || entry.Op != "token" {
			continue
		}
		if entry.Principal != auth.LocalDev || entry.Connector != "Svc" {
			t.Fatalf("audit line lacks the principal or connector: %+v", entry)
		}
		if entry.Outcome == "ok" {
			if at, err := time.Parse(time.RFC3339, entry.ExpiresAt); err != nil || time.Until(at) < 59*time.Minute {
				t.Fatalf("audit line's expiresAt %q (%v)", entry.ExpiresAt, err)
			}
		}
		got = append(got, entry.Agent+":"+entry.Outcome+":"+entry.Cache)
	}
	want := "agent-1:ok:minted,agent-1:ok:local,agent-2:permission_denied:"
	if strings.Join(got, ",") != want {
		t.Fatalf("audit lines %q, want %q", strings.Join(got, ","), want)
	}
}
