package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

func TestAuthenticateDerivedAudience(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := baseConfig()
	cfg.Audience = ""
	a := newAuth(t, cfg, g.Client)

	tests := []struct {
		url, aud string
		ok       bool
	}{
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app", true},
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app/", true},
		{"https://token-abc-uc.a.run.app/x/y", "https://token-abc-uc.a.run.app", true},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/token", true},
		{"https://r-p.cloudfunctions.net/token/sub", "https://r-p.cloudfunctions.net/token", true},
		{"https://TOKEN-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app", true},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/tok", false},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/token/more", false},
		{"https://r-p.cloudfunctions.net/token", "https://r-p.cloudfunctions.net/files", false},
		{"https://token-abc-uc.a.run.app/", "http://token-abc-uc.a.run.app", false},
		{"https://token-abc-uc.a.run.app/", "https://token-abc-uc.a.run.app.evil.com", false},
		{"https://token-abc-uc.a.run.app/", "https://other-abc-uc.a.run.app", false},
		{"https://token-abc-uc.a.run.app/", "token-abc-uc.a.run.app", false},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.aud, func(t *testing.T) {
			tok := g.Sign(t, g.Key, claims(agentEmail, map[string]any{"aud": tt.aud}))
			r := httptest.NewRequest(http.MethodPost, tt.url, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			p, err := a.Authenticate(r, auth.RoleAgent)
			if tt.ok {
				if err != nil || p.Email != agentEmail {
					t.Fatalf("Authenticate = %+v, %v; want %s", p, err, agentEmail)
				}
				return
			}
			checkErr(t, err, auth.ErrUnauthenticated, tok)
		})
	}

	t.Run("no host", func(t *testing.T) {
		tok := g.Sign(t, g.Key, claims(agentEmail, map[string]any{"aud": "https://"}))
		r := request(tok)
		r.Host = ""
		_, err := a.Authenticate(r, auth.RoleAgent)
		checkErr(t, err, auth.ErrUnauthenticated, tok)
	})
}

// TestAudienceFunctionURLs: what a deployment accepts, configured as
// Terraform configures it: the function's cloudfunctions.net and run.app
// URLs, the run.app URL Cloud Run reports (from Host and K_SERVICE), and
// gcloud's client ID, so that `gcloud functions call` keeps working.
func TestAudienceFunctionURLs(t *testing.T) {
	g := authtest.NewIssuer(t)
	const (
		cfURL     = "https://europe-west1-proj.cloudfunctions.net/token"
		detURL    = "https://token-123456789012.europe-west1.run.app"
		hashHost  = "token-abc123xyz0-ew.a.run.app"
		otherHash = "files-abc123xyz0-ew.a.run.app"
	)
	env := map[string]string{
		"CONNECTORS_AUDIENCE":            cfURL + "," + detURL,
		"K_SERVICE":                      "token",
		"CONNECTORS_TRUST_CLOUD_RUN_IAM": "true",
		"CONNECTORS_AGENT_PRINCIPALS":    agentEmail,
	}
	build := func(edits map[string]string) *auth.Authenticator {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range edits {
			e[k] = v
		}
		cfg, err := auth.ConfigFromEnv(func(k string) string { return e[k] })
		if err != nil {
			t.Fatal(err)
		}
		return newAuth(t, cfg, g.Client)
	}
	deployed := build(nil)
	noClients := build(map[string]string{"CONNECTORS_CLIENT_IDS": "none"})
	otherClient := build(map[string]string{"CONNECTORS_CLIENT_IDS": "99-mine.apps.googleusercontent.com"})

	cases := []struct {
		name string
		a    *auth.Authenticator
		url  string
		aud  string
		ok   bool
	}{
		{"cloudfunctions.net URL", deployed, cfURL, cfURL, true},
		{"cloudfunctions.net URL, slash", deployed, cfURL, cfURL + "/", true},
		{"cloudfunctions.net URL on run.app", deployed, "https://" + hashHost + "/", cfURL, true},
		{"deterministic run.app URL", deployed, detURL + "/", detURL, true},
		{"Cloud Run's reported URL", deployed, "https://" + hashHost + "/", "https://" + hashHost, true},
		{"Cloud Run's reported URL, other Host", deployed, "https://token-123456789012.europe-west1.run.app/", "https://" + hashHost, false},
		{"another service's run.app URL", deployed, "https://" + otherHash + "/", "https://" + otherHash, false},
		{"a look-alike run.app URL", deployed, "https://token-evil-abc123xyz0-ew.a.run.app/", "https://token-evil-abc123xyz0-ew.a.run.app", false},
		{"another function", deployed, cfURL, "https://europe-west1-proj.cloudfunctions.net/files", false},
		{"the shared origin", deployed, cfURL, "https://europe-west1-proj.cloudfunctions.net", false},
		{"a path below the function", deployed, cfURL, cfURL + "/x", false},
		{"gcloud's client ID", deployed, cfURL, auth.GcloudClientID, true},
		{"gcloud's client ID, none allowed", noClients, cfURL, auth.GcloudClientID, false},
		{"gcloud's client ID, another allowed", otherClient, cfURL, auth.GcloudClientID, false},
		{"an allowed client ID", otherClient, cfURL, "99-mine.apps.googleusercontent.com", true},
	}
	for _, c := range cases {
		for _, strip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stripped=%v", c.name, strip), func(t *testing.T) {
				tok := g.Token(t, agentEmail, c.aud)
				if strip {
					tok = authtest.Strip(tok)
				}
				r := httptest.NewRequest(http.MethodPost, c.url, nil)
				r.Header.Set("Authorization", "Bearer "+tok)
				p, err := c.a.Authenticate(r, auth.RoleAgent)
				if c.ok {
					if err != nil || p.Email != agentEmail {
						t.Fatalf("Authenticate = %+v, %v; want %s", p, err, agentEmail)
					}
					return
				}
				checkErr(t, err, auth.ErrUnauthenticated, tok)
			})
		}
	}

	// The service alone (no configured URLs): the cloudfunctions.net URL
	// follows from a cloudfunctions.net Host and the service name.
	serviceOnly := build(map[string]string{"CONNECTORS_AUDIENCE": ""})
	for aud, ok := range map[string]bool{cfURL: true, "https://europe-west1-proj.cloudfunctions.net": false, "https://europe-west1-proj.cloudfunctions.net/files": false} {
		r := httptest.NewRequest(http.MethodPost, "https://europe-west1-proj.cloudfunctions.net/", nil)
		r.Header.Set("Authorization", "Bearer "+g.Token(t, agentEmail, aud))
		if _, err := serviceOnly.Authenticate(r, auth.RoleAgent); (err == nil) != ok {
			t.Errorf("service only, aud %s: err = %v, want ok=%v", aud, err, ok)
		}
	}

	if _, err := auth.New(auth.Config{Service: "Bad_Name"}, nil); err == nil {
		t.Error("a malformed service name was accepted")
	}
	if _, err := auth.New(auth.Config{ClientIDs: []string{"https://x"}}, nil); err == nil {
		t.Error("a URL was accepted as a client ID")
	}
}
