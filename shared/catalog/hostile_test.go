package catalog_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/testenv"
)

// Hostile cases for the catalog: an admin (or whoever holds an admin's
// session) trying to read back write-only secrets by moving the connector
// they are stored with.

// catcher is the attacker's server: it records every request it gets.
type catcher struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newCatcher(t *testing.T) *catcher {
	c := &catcher{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.seen = append(c.seen, r.Header.Get("Authorization")+"\n"+string(body))
		c.mu.Unlock()
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *catcher) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// TestMovingAConnectorNeedsItsSecretsAgain: an update that changes url or
// grantType without giving every stored write-only value again is 400 on
// that field and changes nothing; the next test or mint still goes to the
// old destination, and the new URL never receives a request (on the old
// code it received the client secret, refresh token, password, the
// service account's private key (as its signature's key) or the AWS secret
// key's signature).
func TestMovingAConnectorNeedsItsSecretsAgain(t *testing.T) {
	honest := newCatcher(t) // stands for the real provider
	keyJSON, _, err := cloudtest.NewServiceAccountKey("sa@p.iam.gserviceaccount.com", "p", honest.URL+"/token")
	if err != nil {
		t.Fatal(err)
	}
	const (
		clientSecret = "cs-hostile-0123456789"
		refreshToken = "rt-hostile-0123456789"
		password     = "pw-hostile-0123456789"
		awsSecret    = "aws-secret-hostile-0123456789"
	)
	for _, tc := range []struct {
		name      string
		create    connector.Input
		move      func(attacker string) *connector.Input
		wantField string
	}{
		{
			name:   "client_credentials url",
			create: connector.Input{GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret)},
			move: func(a string) *connector.Input {
				return &connector.Input{URL: ptr(a + "/token")}
			},
			wantField: "clientSecret",
		},
		{
			name:   "refresh_token url with only the client secret again",
			create: connector.Input{GrantType: ptr("refresh_token"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret), RefreshToken: ptr(refreshToken)},
			move: func(a string) *connector.Input {
				return &connector.Input{URL: ptr(a + "/token"), ClientSecret: ptr("cs-new")}
			},
			wantField: "refreshToken",
		},
		{
			name:   "password url",
			create: connector.Input{GrantType: ptr("password"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret), Username: ptr("u"), Password: ptr(password)},
			move: func(a string) *connector.Input {
				return &connector.Input{URL: ptr(a + "/token"), ClientSecret: ptr("cs-new")}
			},
			wantField: "password",
		},
		{
			name:   "gcs_service_account to client_credentials",
			create: connector.Input{GrantType: ptr("gcs_service_account"), ClientSecret: ptr(string(keyJSON))},
			move: func(a string) *connector.Input {
				return &connector.Input{GrantType: ptr("client_credentials"), URL: ptr(a + "/token"), ClientID: ptr("cid")}
			},
			wantField: "clientSecret",
		},
		{
			name:   "aws_iam url",
			create: connector.Input{GrantType: ptr("aws_iam"), ClientID: ptr("AKIAHOSTILE000000000"), ClientSecret: ptr(awsSecret)},
			move: func(a string) *connector.Input {
				return &connector.Input{URL: ptr(a)}
			},
			wantField: "clientSecret",
		},
		{
			name:   "grantType alone",
			create: connector.Input{GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret)},
			move: func(string) *connector.Input {
				return &connector.Input{GrantType: ptr("password"), Username: ptr("u"), Password: ptr("p")}
			},
			wantField: "clientSecret",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := testenv.New(t, testenv.Embedded)
			cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
			attacker := newCatcher(t)
			in := tc.create
			in.Name = ptr("Victim")
			in.Agents = ptr([]string{"a"})
			if in.URL == nil && *in.GrantType != "gcs_service_account" {
				in.URL = ptr(honest.URL + "/token")
			}
			before, err := cat.Create(ctx, &in, "admin")
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			_, err = cat.Update(ctx, "Victim", "", tc.move(attacker.URL), "admin")
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantField {
				t.Fatalf("moving without the secrets: got %v, want a field error on %s", err, tc.wantField)
			}
			for _, s := range []string{clientSecret, refreshToken, password, awsSecret, "PRIVATE KEY"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error quotes a secret: %v", err)
				}
			}
			after, err := cat.Get(ctx, "Victim")
			if err != nil {
				t.Fatal(err)
			}
			if after.Revision != before.Revision || after.URL != before.URL || after.GrantType != before.GrantType {
				t.Fatal("a refused update changed the connector")
			}
			// What an admin would do next: test the connection.
			svc := mint.NewService(cat, b.Cache, mint.KeyCreatedOnFirstUse, config.Config{AllowInsecureURLs: true})
			_, _ = svc.Test(ctx, "Victim")
			if got := attacker.requests(); len(got) != 0 {
				t.Fatalf("the new destination received %d request(s) after a refused move", len(got))
			}
		})
	}
}

// TestMovingAConnectorWithItsSecretsAgain: giving the secrets again (or
// clearing them) moves the connector; a url or grantType given unchanged
// is no move; the audit line's field list names fields, never values.
func TestMovingAConnectorWithItsSecretsAgain(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
	honest, moved := newCatcher(t), newCatcher(t)
	if _, err := cat.Create(ctx, &connector.Input{
		Name: ptr("Mover"), URL: ptr(honest.URL + "/token"), GrantType: ptr("refresh_token"),
		ClientID: ptr("cid"), ClientSecret: ptr("cs-old"), RefreshToken: ptr("rt-old"), Agents: ptr([]string{"a"}),
	}, "admin"); err != nil {
		t.Fatal(err)
	}
	// The same url again, and other fields: no move, no secrets needed.
	if _, err := cat.Update(ctx, "Mover", "", &connector.Input{URL: ptr(" " + honest.URL + "/token "), Scope: ptr("read")}, "admin"); err != nil {
		t.Fatalf("unchanged url: %v", err)
	}
	// Moved with the client secret again and the refresh token cleared,
	// to a grant that needs none.
	changes := &connector.Input{URL: ptr(moved.URL + "/token"), GrantType: ptr("client_credentials"), ClientSecret: ptr("cs-new"), RefreshToken: ptr("")}
	c, err := cat.Update(ctx, "Mover", "", changes, "admin")
	if err != nil {
		t.Fatalf("move with the secrets again: %v", err)
	}
	bundle, err := cat.Bundle(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if bundle.ClientSecret != "cs-new" || bundle.RefreshToken != "" || c.HasRefreshToken {
		t.Fatal("the moved connector does not hold exactly the secrets given again")
	}
	if got, want := strings.Join(changes.Fields(), ","), "url,grantType,clientSecret,refreshToken"; got != want {
		t.Fatalf("Fields() = %q, want %q", got, want)
	}
}
