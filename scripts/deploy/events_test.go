package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// writers are the functions that record events, and so publish them:
// those whose catalog mutations record connector.* events, and the minting
// ones whose health writes record credential.* events (not files, which
// records no health).
var writers = []string{"connectors-authorize", "connectors-create", "connectors-delete", "connectors-update", "oauth-callback",
	"connectors-test", "maintenance", "mcp", "proxy", "token"}

// checkEventsAndDataSafety returns what is wrong with the plan's events
// topic, its publishers, and the connectors' database protection.
func checkEventsAndDataSafety(p *plan) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var topic string
	if raw, ok := p.Variables["events_topic"]; ok {
		_ = json.Unmarshal(raw.Value, &topic)
	}
	if topic == "" {
		fail("the ci plan has no events_topic")
	}
	planned := false
	var pitr, protected bool
	for _, rc := range p.ResourceChanges {
		a := rc.Change.After
		if a == nil {
			continue
		}
		switch rc.Type {
		case "google_pubsub_topic":
			if str(a, "name") == topic {
				planned = true
			}
		case "google_firestore_database":
			if str(a, "name") == "(default)" {
				pitr = str(a, "point_in_time_recovery_enablement") == "POINT_IN_TIME_RECOVERY_ENABLED"
				protected = str(a, "delete_protection_state") == "DELETE_PROTECTION_ENABLED"
			}
		}
	}
	if !planned {
		fail("no google_pubsub_topic %q (events_topic) is planned", topic)
	}
	if !pitr {
		fail("the (default) Firestore database: point-in-time recovery is not enabled")
	}
	if !protected {
		fail("the (default) Firestore database: delete protection is not enabled")
	}
	fns, _, _, grants, _, _ := p.scan()
	publishers := map[string]bool{}
	for _, g := range grants {
		if g.scope != "topic" {
			continue
		}
		if g.target != topic || g.role != "roles/pubsub.publisher" {
			fail("%s: %s on topic %q; want only roles/pubsub.publisher on %q", g.addr, g.role, g.target, topic)
		}
		for _, m := range g.members {
			found := false
			for name, f := range fns {
				if m == "serviceAccount:"+f.serviceAccount {
					publishers[name], found = true, true
				}
			}
			if !found {
				fail("%s: %s may publish events, and is no function's account", g.addr, m)
			}
		}
	}
	for name, f := range fns {
		want := slices.Contains(writers, name)
		if publishers[name] != want {
			fail("%s: may publish events: %v, want %v (only the functions that change connectors or record their health)", name, publishers[name], want)
		}
		if got := f.env["CONNECTORS_EVENTS_TOPIC"]; (got == topic) != want || (!want && got != "") {
			fail("%s: CONNECTORS_EVENTS_TOPIC=%q; want %q on exactly the functions that change connectors", name, got, topic)
		}
	}
	return problems
}

// TestPlanEventsTopicAndDataSafety: the plan creates the events topic,
// lets exactly the functions that change connectors publish to it (and
// tells them its name), and protects the connectors' Firestore database
// with point-in-time recovery and delete protection.
func TestPlanEventsTopicAndDataSafety(t *testing.T) {
	p := loadPlan(t)
	for _, problem := range checkEventsAndDataSafety(p) {
		t.Error(problem)
	}
	expectReported(t, p, checkEventsAndDataSafety, []breachCase{
		{"no topic", func(p *plan) { dropType(p, "google_pubsub_topic") }, "no google_pubsub_topic"},
		{"no publisher grant", func(p *plan) { dropType(p, "google_pubsub_topic_iam_member") }, "may publish events: false, want true"},
		{"files may publish", func(p *plan) {
			for _, rc := range p.ResourceChanges {
				if rc.Type == "google_pubsub_topic_iam_member" {
					rc.Change.After["member"] = "serviceAccount:fn-files@connectors-ci.iam.gserviceaccount.com"
					break
				}
			}
		}, "files: may publish events: true, want false"},
		{"no PITR", func(p *plan) { setDefaultDB(p, "point_in_time_recovery_enablement", "POINT_IN_TIME_RECOVERY_DISABLED") }, "point-in-time recovery"},
		{"no delete protection", func(p *plan) { setDefaultDB(p, "delete_protection_state", "DELETE_PROTECTION_DISABLED") }, "delete protection"},
	})
}

func dropType(p *plan, typ string) {
	p.ResourceChanges = slices.DeleteFunc(p.ResourceChanges, func(rc resourceChange) bool { return rc.Type == typ })
}

func setDefaultDB(p *plan, k, v string) {
	for _, rc := range p.ResourceChanges {
		if rc.Type == "google_firestore_database" && str(rc.Change.After, "name") == "(default)" {
			rc.Change.After[k] = v
		}
	}
}

// TestPlanWebhook: with a webhook, exactly the publishing functions are
// told its URL and its secret's version, and get secretAccessor on that
// one secret; an http URL, or a URL without its secret, does not plan.
func TestPlanWebhook(t *testing.T) {
	for _, bad := range [][]string{
		{"-var=webhook_url=http://hooks.example.com/c", "-var=webhook_secret=connectors-webhook"},
		{"-var=webhook_url=https://hooks.example.com/c"},
	} {
		if out, ok := planWith(t, bad...); ok || !strings.Contains(string(out), "webhook_url must be an https URL") {
			t.Errorf("%v planned (or without naming the rule):\n%s", bad, out)
		}
	}
	out, ok := planWith(t, "-var=webhook_url=https://hooks.example.com/c", "-var=webhook_secret=connectors-webhook")
	if !ok {
		t.Fatalf("the webhook plan failed:\n%s", out)
	}
	var p plan
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	// The deployment's other rules hold with a webhook too.
	for _, problem := range append(checkPlan(&p), checkEventsAndDataSafety(&p)...) {
		t.Error(problem)
	}
	fns, _, _, grants, _, _ := p.scan()
	accessors := map[string]bool{}
	for _, g := range grants {
		if g.scope == "secret" && g.target == "connectors-webhook" {
			if g.role != "roles/secretmanager.secretAccessor" {
				t.Errorf("%s: %s on the webhook secret", g.addr, g.role)
			}
			for name, f := range fns {
				if slices.Contains(g.members, "serviceAccount:"+f.serviceAccount) {
					accessors[name] = true
				}
			}
		}
	}
	for name, f := range fns {
		want := slices.Contains(writers, name)
		if accessors[name] != want {
			t.Errorf("%s: reads the webhook secret: %v, want %v", name, accessors[name], want)
		}
		url, secret := f.env["CONNECTORS_WEBHOOK_URL"], f.env["CONNECTORS_WEBHOOK_SECRET_NAME"]
		if want && (url != "https://hooks.example.com/c" || secret != "projects/connectors-ci/secrets/connectors-webhook/versions/latest") {
			t.Errorf("%s: CONNECTORS_WEBHOOK_URL=%q CONNECTORS_WEBHOOK_SECRET_NAME=%q", name, url, secret)
		}
		if !want && (url != "" || secret != "") {
			t.Errorf("%s is told the webhook, and does not publish", name)
		}
	}
}
