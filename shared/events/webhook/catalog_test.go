package webhook_test

import (
	"strings"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/testenv"
)

func ptr[T any](v T) *T { return &v }

// TestWebhookDeliversCatalogChangesWithoutSecrets: a catalog with events
// on delivers its create, update and delete to a real receiver, which
// verifies each; no delivered byte holds a write-only value.
func TestWebhookDeliversCatalogChangesWithoutSecrets(t *testing.T) {
	const cs, pw, cs2 = "wh-client-secret-0c1d", "wh-password-77ab", "wh-client-secret-e5f0"
	secret := newSecret(t)
	r := newReceiver(t, secret)
	b := testenv.New(t, testenv.Embedded)
	relay := &events.Relay{Outbox: b.Store.(events.Outbox), Publisher: sender(r.srv.URL, secret, nil)}
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Events: relay}
	ctx := t.Context()
	if _, err := cat.Create(ctx, &connector.Input{Name: ptr("Svc"), URL: ptr("https://auth.example.com/token"), GrantType: ptr("password"),
		ClientID: ptr("cid"), ClientSecret: ptr(cs), Username: ptr("u"), Password: ptr(pw)}, "t"); err != nil {
		t.Fatal(err)
	}
	relay.Wait()
	if _, err := cat.Update(ctx, "Svc", "", &connector.Input{ClientSecret: ptr(cs2)}, "t"); err != nil {
		t.Fatal(err)
	}
	relay.Wait()
	if err := cat.Delete(ctx, "Svc", ""); err != nil {
		t.Fatal(err)
	}
	relay.Wait()
	var types []string
	for _, ce := range r.accepted {
		types = append(types, ce.Type)
	}
	if strings.Join(types, ",") != "connector.created,connector.updated,connector.deleted" || len(r.refused) != 0 {
		t.Fatalf("accepted %v, refused %v", types, r.refused)
	}
	for _, c := range r.raw {
		for _, s := range []string{cs, pw, cs2} {
			if strings.Contains(string(c.body), s) {
				t.Fatalf("a delivery holds a write-only value: %s", c.body)
			}
		}
	}
}
