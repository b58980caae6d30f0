package deploy

import (
	"testing"
)

// TestConnectFlowPlan: the connect flow's callback is reached through the
// console's load balancer and IAP only, both functions know the redirect
// URI and the console on that origin, and the pending states expire by a
// Firestore TTL policy.
func TestConnectFlowPlan(t *testing.T) {
	p := loadPlan(t)
	v, err := p.vars()
	if err != nil {
		t.Fatal(err)
	}
	fns, _, _, _, _, _ := p.scan()
	for _, name := range []string{"connectors-authorize", "oauth-callback"} {
		f, ok := fns[name]
		if !ok {
			t.Fatalf("%s is not planned", name)
		}
		for k, want := range map[string]string{
			"CONNECTORS_OAUTH_REDIRECT_URL": "https://" + v.ConsoleDomain + "/oauth-callback",
			"CONNECTORS_CONSOLE_URL":        "https://" + v.ConsoleDomain + "/console",
		} {
			if got := f.env[k]; got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
	}
	if got := fns["oauth-callback"].ingress; got != "ALLOW_INTERNAL_AND_GCLB" {
		t.Errorf("oauth-callback: ingress %q, want ALLOW_INTERNAL_AND_GCLB (admins' browsers through IAP only)", got)
	}
	var ttl bool
	for _, rc := range p.ResourceChanges {
		if rc.Type != "google_firestore_field" || rc.Change.After == nil {
			continue
		}
		if str(rc.Change.After, "field") == "expiresAt" && str(rc.Change.After, "collection") == "prod-auth-states" {
			ttl = true
		}
	}
	if !ttl {
		t.Error("no TTL policy on <prefix>auth-states.expiresAt is planned")
	}
}
