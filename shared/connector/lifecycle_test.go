package connector_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

const nextSecretValue = "next-secret-value-xyz"

func ecKeyPEM(t *testing.T) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, k)
}

func jsonMarshal(v any) (string, error) {
	data, err := json.Marshal(v)
	return string(data), err
}

// TestValidateLifecycle: every rule of nextClientSecret and
// maxTokenLifetime, each refusal naming its field, none quoting a secret.
func TestValidateLifecycle(t *testing.T) {
	saKey := serviceAccountKey(t, nil)
	tests := []struct {
		name      string
		edit      func(in *connector.Input)
		wantField string // "" = valid
	}{
		{name: "next secret with client_secret_post", edit: func(in *connector.Input) { in.NextClientSecret = ptr(nextSecretValue) }},
		{name: "next secret with client_secret_basic", edit: func(in *connector.Input) {
			in.NextClientSecret, in.ClientAuthMethod = ptr(nextSecretValue), ptr("client_secret_basic")
		}},
		{name: "next secret with headerAsPayload", edit: func(in *connector.Input) {
			in.NextClientSecret, in.HeaderAsPayload = ptr(nextSecretValue), ptr(true)
		}},
		{name: "empty next secret is none", edit: func(in *connector.Input) {
			in.NextClientSecret, in.ClientAuthMethod, in.ClientSecret = ptr(""), ptr("none"), ptr("")
		}},
		{name: "next secret with private_key_jwt", edit: func(in *connector.Input) {
			in.NextClientSecret, in.ClientAuthMethod, in.ClientSecret = ptr(nextSecretValue), ptr("private_key_jwt"), ptr(ecKeyPEM(t))
		}, wantField: "nextClientSecret"},
		{name: "next secret with none", edit: func(in *connector.Input) {
			in.NextClientSecret, in.ClientAuthMethod, in.ClientSecret = ptr(nextSecretValue), ptr("none"), ptr("")
		}, wantField: "nextClientSecret"},
		{name: "next secret with aws_iam", edit: func(in *connector.Input) {
			in.NextClientSecret, in.GrantType, in.URL, in.ClientID = ptr(nextSecretValue), ptr("aws_iam"), ptr(""), ptr("AKIAEXAMPLE")
		}, wantField: "nextClientSecret"},
		{name: "next secret with gcs_service_account", edit: func(in *connector.Input) {
			in.NextClientSecret, in.GrantType, in.URL, in.ClientSecret = ptr(nextSecretValue), ptr("gcs_service_account"), ptr(""), ptr(saKey)
		}, wantField: "nextClientSecret"},
		{name: "next secret without a current one", edit: func(in *connector.Input) {
			in.NextClientSecret, in.ClientSecret = ptr(nextSecretValue), ptr("")
		}, wantField: "nextClientSecret"},
		{name: "next secret too long", edit: func(in *connector.Input) {
			in.NextClientSecret = ptr(strings.Repeat("n", connector.MaxClientSecretLen+1))
		}, wantField: "nextClientSecret"},
		{name: "next secret at the limit", edit: func(in *connector.Input) {
			in.NextClientSecret = ptr(strings.Repeat("n", connector.MaxClientSecretLen))
		}},
		{name: "lifetime lowest", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(60) }},
		{name: "lifetime highest", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(86400) }},
		{name: "lifetime zero is none", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(0) }},
		{name: "lifetime too short", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(59) }, wantField: "maxTokenLifetime"},
		{name: "lifetime too long", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(86401) }, wantField: "maxTokenLifetime"},
		{name: "lifetime negative", edit: func(in *connector.Input) { in.MaxTokenLifetime = ptr(-1) }, wantField: "maxTokenLifetime"},
		{name: "lifetime on aws_iam", edit: func(in *connector.Input) {
			in.MaxTokenLifetime, in.GrantType, in.URL, in.ClientID = ptr(600), ptr("aws_iam"), ptr(""), ptr("AKIAEXAMPLE")
		}, wantField: "maxTokenLifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gmail()
			tt.edit(&in)
			err := validate(in, connector.Options{})
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("want a FieldError on %q, got %v", tt.wantField, err)
			}
			if strings.Contains(fe.Error(), nextSecretValue) || strings.Contains(fe.Error(), "GOCSPX-secret-value") {
				t.Fatalf("error quotes a secret: %v", fe)
			}
		})
	}
}

// TestNextClientSecretWriteOnly: the value goes to the bundle, only its
// presence to the connector (and its JSON), and audit fields name it.
func TestNextClientSecretWriteOnly(t *testing.T) {
	in := gmail()
	in.NextClientSecret = ptr(nextSecretValue)
	c := connector.Defaults()
	var b secret.Bundle
	in.Apply(c, &b)
	if b.NextClientSecret != nextSecretValue || !c.HasNextClientSecret {
		t.Fatalf("bundle next set %v, hasNextClientSecret %v", b.NextClientSecret == nextSecretValue, c.HasNextClientSecret)
	}
	if !in.TouchesSecrets() {
		t.Fatal("nextClientSecret does not count as a secret write")
	}
	if f := strings.Join(in.Fields(), ","); !strings.Contains(f, "nextClientSecret") || strings.Contains(f, nextSecretValue) {
		t.Fatalf("fields %q", f)
	}
	data, _ := jsonMarshal(c)
	if strings.Contains(data, nextSecretValue) || !strings.Contains(data, `"hasNextClientSecret":true`) {
		t.Fatalf("connector JSON %s", data)
	}
	// Clearing it clears the flag.
	(&connector.Input{NextClientSecret: ptr("")}).Apply(c, &b)
	if b.NextClientSecret != "" || c.HasNextClientSecret {
		t.Fatal("clearing nextClientSecret left it set")
	}
}

// TestRebindNextClientSecret: moving url must give nextClientSecret again.
func TestRebindNextClientSecret(t *testing.T) {
	cur := &connector.Connector{Name: "Svc", URL: "https://a.example/token", GrantType: "client_credentials",
		HasClientSecret: true, HasNextClientSecret: true}
	in := &connector.Input{URL: ptr("https://b.example/token"), ClientSecret: ptr("new-secret")}
	var fe *connector.FieldError
	if err := in.CheckRebind(cur); !errors.As(err, &fe) || fe.Field != "nextClientSecret" {
		t.Fatalf("move without nextClientSecret: %v, want a FieldError on nextClientSecret", err)
	}
	in.NextClientSecret = ptr("")
	if err := in.CheckRebind(cur); err != nil {
		t.Fatalf("move clearing nextClientSecret: %v", err)
	}
}

// TestRefreshTokenClearsNeedsReconnect: a new refresh token (an admin's
// update, the connect flow's) clears the mark; other edits keep it.
func TestRefreshTokenClearsNeedsReconnect(t *testing.T) {
	c := (&connector.Connector{Name: "Mail", GrantType: "refresh_token"}).NeedsReconnectAt(time.Now())
	var b secret.Bundle
	(&connector.Input{Scope: ptr("read")}).Apply(c, &b)
	if !c.NeedsReconnect || c.NeedsReconnectSince.IsZero() {
		t.Fatal("an edit of scope cleared needsReconnect")
	}
	(&connector.Input{RefreshToken: ptr("fresh")}).Apply(c, &b)
	if c.NeedsReconnect || !c.NeedsReconnectSince.IsZero() {
		t.Fatal("a new refresh token left needsReconnect set")
	}
	data, _ := jsonMarshal(c)
	if strings.Contains(data, "needsReconnectSince") || !strings.Contains(data, `"needsReconnect":false`) {
		t.Fatalf("connector JSON %s", data)
	}
}
