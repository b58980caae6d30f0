package token_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/testenv"
)

// TestTokenHostileKeys: a body whose agent is given twice, or under another
// case, is refused before anything is minted. Before, encoding/json let the
// last spelling win, so a front end reading the first "agent" and the
// token function reading the last disagreed on who was asking.
func TestTokenHostileKeys(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t)
	e := newEnv(t, b, nil, 2*time.Second)
	e.create(clientCreds("Svc", p.URL, "agent-1"))

	for _, c := range []struct{ body, field string }{
		{`{"connector":"Svc","agent":"agent-2","agent":"agent-1"}`, "agent"},
		{`{"connector":"Svc","agent":"agent-2","AGENT":"agent-1"}`, "AGENT"},
		{`{"connector":"Svc","Agent":"agent-1"}`, "Agent"},
		{`{"Connector":"Svc","agent":"agent-1"}`, "Connector"},
		{`{"connector":"Nope","connector":"Svc","agent":"agent-1"}`, "connector"},
	} {
		code, out := e.call(token.FnToken, json.RawMessage(c.body), "")
		eb := errBody(out)
		if code != 400 || eb["code"] != "invalid_argument" || eb["field"] != c.field {
			t.Errorf("%s: got %d %v, want 400 invalid_argument field %s", c.body, code, out, c.field)
		}
		if strings.Contains(fmt.Sprint(eb["message"]), "agent-1") {
			t.Errorf("%s: message echoes a value: %v", c.body, eb["message"])
		}
	}
	if n := p.Calls.Load(); n != 0 {
		t.Fatalf("the provider was called %d times for refused bodies", n)
	}
}
