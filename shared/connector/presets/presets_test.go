package presets_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/presets"
	"connectors.dev/connectors/shared/secret"
)

func ptr[T any](v T) *T { return &v }

// TestEveryPresetValidates fills each preset's placeholders and checks
// that the connector it makes passes every validation rule (with the
// write-only values its grant type needs) and that all its URLs are https.
func TestEveryPresetValidates(t *testing.T) {
	cat, err := presets.All()
	if err != nil {
		t.Fatal(err)
	}
	if cat.Version == "" {
		t.Fatal("the catalog has no version")
	}
	if len(cat.Presets) < 30 {
		t.Fatalf("%d presets, want at least 30", len(cat.Presets))
	}
	seen := map[string]bool{}
	for _, p := range cat.Presets {
		t.Run(p.ID, func(t *testing.T) {
			if seen[p.ID] || p.ID == "" || p.Title == "" {
				t.Fatalf("id %q repeated or empty, or no title", p.ID)
			}
			seen[p.ID] = true
			if u, err := url.Parse(p.Docs); err != nil || u.Scheme != "https" {
				t.Errorf("docs %q is not an https link", p.Docs)
			}
			params := map[string]string{}
			for _, k := range p.Params {
				params[k] = "example-" + strings.ToLower(k)
			}
			in := connector.Input{Name: ptr("P_" + strings.ReplaceAll(p.ID, "-", "_")), ClientID: ptr("client-id"), ClientSecret: ptr("client-secret")}
			if p.GrantType == connector.GrantRefreshToken && p.AuthorizationURL == "" {
				in.RefreshToken = ptr("refresh")
			}
			if err := presets.Apply(p.ID, params, &in); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			c := connector.Defaults()
			var b secret.Bundle
			in.Apply(c, &b)
			if err := connector.Validate(c, &b, connector.Options{}); err != nil {
				t.Fatalf("the preset's connector does not validate: %v", err)
			}
			for field, v := range map[string]string{"url": c.URL, "authorizationUrl": c.AuthorizationURL, "issuer": c.Issuer, "apiBaseUrl": c.APIBaseURL} {
				if v == "" {
					continue
				}
				if u, err := url.Parse(v); err != nil || u.Scheme != "https" || strings.ContainsAny(v, "{}") {
					t.Errorf("%s %q is not a filled https URL", field, v)
				}
			}
			if p.GrantType == connector.GrantRefreshToken && c.AuthorizationURL == "" {
				t.Errorf("a refresh_token preset without authorizationUrl cannot connect")
			}
		})
	}
}

// TestApply: explicit fields win, placeholders are filled, and each
// refusal names its field.
func TestApply(t *testing.T) {
	in := connector.Input{Scope: ptr("Mail.Send"), URL: nil}
	if err := presets.Apply("microsoft", map[string]string{"tenant": "contoso.onmicrosoft.com"}, &in); err != nil {
		t.Fatal(err)
	}
	if *in.Scope != "Mail.Send" {
		t.Errorf("scope = %q: the explicit field was overridden", *in.Scope)
	}
	if *in.URL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Errorf("url = %q", *in.URL)
	}
	google := connector.Input{}
	if err := presets.Apply("google", nil, &google); err != nil {
		t.Fatal(err)
	}
	if ap := *google.AuthorizationParams; ap["access_type"] != "offline" || ap["prompt"] != "consent" {
		t.Errorf("google authorizationParams = %v", ap)
	}
	// A field given explicitly needs no placeholder.
	explicit := connector.Input{URL: ptr("https://login.example.com/token"), AuthorizationURL: ptr("https://login.example.com/authorize"),
		Issuer: ptr("https://login.example.com"), APIBaseURL: ptr("https://graph.microsoft.com")}
	if err := presets.Apply("microsoft", nil, &explicit); err != nil {
		t.Fatalf("explicit fields still asked for a placeholder: %v", err)
	}
	for _, tc := range []struct {
		name, id string
		params   map[string]string
		field    string
	}{
		{"unknown preset", "nope", nil, "preset"},
		{"missing placeholder", "zendesk", nil, "presetParams.subdomain"},
		{"unknown param", "google", map[string]string{"tenant": "x"}, "presetParams.tenant"},
		{"param with a slash", "zendesk", map[string]string{"subdomain": "evil.example/x"}, "presetParams.subdomain"},
		{"param with user info", "okta", map[string]string{"domain": "a@evil.example"}, "presetParams.domain"},
		{"param with a port", "keycloak", map[string]string{"host": "a:1", "realm": "r"}, "presetParams.host"},
		{"param empty", "shopify", map[string]string{"shop": ""}, "presetParams.shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := presets.Apply(tc.id, tc.params, &connector.Input{})
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a field error on %s", err, tc.field)
			}
		})
	}
}
