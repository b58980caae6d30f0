package auth_test

import (
	"reflect"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/auth"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    auth.Config
		wantErr string // substring; empty means success
	}{
		{name: "empty", env: nil, want: auth.Config{}},
		{
			name: "everything",
			env: map[string]string{
				"CONNECTORS_AUDIENCE":            " https://r-p.cloudfunctions.net/token , https://token-1.r.run.app",
				"K_SERVICE":                      "token",
				"CONNECTORS_CLIENT_IDS":          "a.apps.googleusercontent.com, b.apps.googleusercontent.com",
				"CONNECTORS_ADMINS":              "user:Alice@Example.com, bob@example.com,",
				"CONNECTORS_AGENT_PRINCIPALS":    "serviceAccount:rt@p.iam.gserviceaccount.com",
				"CONNECTORS_AGENT_BINDINGS":      "agentA=sa1@p.iam.gserviceaccount.com|serviceAccount:sa2@p.iam.gserviceaccount.com; agent-b = user:carol@example.com ;",
				"CONNECTORS_TRUST_CLOUD_RUN_IAM": "true",
				"CONNECTORS_IAP_AUDIENCES":       "/projects/1/global/backendServices/2",
			},
			want: auth.Config{
				Audiences: []string{"https://r-p.cloudfunctions.net/token", "https://token-1.r.run.app"},
				Service:   "token",
				ClientIDs: []string{"a.apps.googleusercontent.com", "b.apps.googleusercontent.com"},
				Admins:    []string{"alice@example.com", "bob@example.com"},
				Agents:    []string{"rt@p.iam.gserviceaccount.com"},
				AgentBindings: map[string][]string{
					"agentA":  {"sa1@p.iam.gserviceaccount.com", "sa2@p.iam.gserviceaccount.com"},
					"agent-b": {"carol@example.com"},
				},
				TrustCloudRunIAM: true,
				IAPAudiences:     []string{"/projects/1/global/backendServices/2"},
			},
		},
		{name: "trust 1", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": " 1 "}, want: auth.Config{TrustCloudRunIAM: true}},
		{name: "trust TRUE", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": "TRUE"}, want: auth.Config{TrustCloudRunIAM: true}},
		{name: "trust false", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": "false"}, want: auth.Config{}},
		{name: "trust empty", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": " "}, want: auth.Config{}},
		{name: "trust yes", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": "yes"}, wantErr: "CONNECTORS_TRUST_CLOUD_RUN_IAM"},
		{name: "trust typo", env: map[string]string{"CONNECTORS_TRUST_CLOUD_RUN_IAM": "ture"}, wantErr: "CONNECTORS_TRUST_CLOUD_RUN_IAM"},
		{name: "no client IDs", env: map[string]string{"CONNECTORS_CLIENT_IDS": " none "}, want: auth.Config{ClientIDs: []string{}}},
		{name: "shared origin audience", env: map[string]string{"CONNECTORS_AUDIENCE": "https://r-p.cloudfunctions.net/token,https://r-p.cloudfunctions.net/"}, wantErr: "CONNECTORS_AUDIENCE"},
		{name: "audience not a URL", env: map[string]string{"CONNECTORS_AUDIENCE": "token"}, wantErr: "CONNECTORS_AUDIENCE"},
		{name: "http audience", env: map[string]string{"CONNECTORS_AUDIENCE": "http://r-p.cloudfunctions.net/token"}, wantErr: "CONNECTORS_AUDIENCE"},
		{name: "group admin", env: map[string]string{"CONNECTORS_ADMINS": "group:ops@example.com"}, wantErr: "CONNECTORS_ADMINS"},
		{name: "domain agent", env: map[string]string{"CONNECTORS_AGENT_PRINCIPALS": "domain:example.com"}, wantErr: "CONNECTORS_AGENT_PRINCIPALS"},
		{name: "not an email", env: map[string]string{"CONNECTORS_ADMINS": "alice"}, wantErr: "CONNECTORS_ADMINS"},
		{name: "two at signs", env: map[string]string{"CONNECTORS_ADMINS": "a@b@c"}, wantErr: "CONNECTORS_ADMINS"},
		{name: "space inside", env: map[string]string{"CONNECTORS_AGENT_PRINCIPALS": "a b@c.com"}, wantErr: "CONNECTORS_AGENT_PRINCIPALS"},
		{name: "binding without =", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "agentA:sa@p.iam.gserviceaccount.com"}, wantErr: "CONNECTORS_AGENT_BINDINGS"},
		{name: "binding without agent", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "=sa@p.iam.gserviceaccount.com"}, wantErr: "CONNECTORS_AGENT_BINDINGS"},
		{name: "binding without members", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "agentA= | "}, wantErr: "CONNECTORS_AGENT_BINDINGS"},
		{name: "binding with bad member", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "agentA=group:g@example.com"}, wantErr: "CONNECTORS_AGENT_BINDINGS"},
		{name: "agent bound twice", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "a=x@y.com;a=z@y.com"}, wantErr: "bound twice"},
		{name: "commas in bindings", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "a=x@y.com,z@y.com"}, wantErr: "CONNECTORS_AGENT_BINDINGS"},
		{name: "agent ID with space", env: map[string]string{"CONNECTORS_AGENT_BINDINGS": "my agent=x@y.com"}, wantErr: "CONNECTORS_AGENT_BINDINGS"},

		// IAP audiences.
		{name: "IAP audiences", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": " /projects/123456789012/global/backendServices/987654321 ,/projects/123/apps/my-project,"},
			want: auth.Config{IAPAudiences: []string{"/projects/123456789012/global/backendServices/987654321", "/projects/123/apps/my-project"}}},
		{name: "IAP audience, domain-scoped App Engine project", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/42/apps/example.com:my-project"},
			want: auth.Config{IAPAudiences: []string{"/projects/42/apps/example.com:my-project"}}},
		{name: "IAP audiences empty", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": " , "}, want: auth.Config{}},
		{name: "IAP audience is a URL", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "https://r-p.cloudfunctions.net/connectors-create"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience with project ID for number", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/my-project/global/backendServices/1"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience with service name for ID", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/global/backendServices/connectors-create"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience without leading slash", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "projects/1/global/backendServices/2"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience with trailing slash", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/global/backendServices/2/"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience without service ID", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/global/backendServices/"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience without app", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/apps/"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audience with upper-case app", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/apps/My-Project"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audiences separated by space", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/global/backendServices/2 /projects/1/global/backendServices/3"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
		{name: "IAP audiences separated by semicolon", env: map[string]string{"CONNECTORS_IAP_AUDIENCES": "/projects/1/global/backendServices/2;/projects/1/global/backendServices/3"}, wantErr: "CONNECTORS_IAP_AUDIENCES"},
	}
	if auth.EnvTrustCloudRunIAM != "CONNECTORS_TRUST_CLOUD_RUN_IAM" {
		t.Errorf("EnvTrustCloudRunIAM = %q", auth.EnvTrustCloudRunIAM)
	}
	if auth.EnvIAPAudiences != "CONNECTORS_IAP_AUDIENCES" {
		t.Errorf("EnvIAPAudiences = %q", auth.EnvIAPAudiences)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want mention of %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			// Whatever ConfigFromEnv accepts, New accepts.
			if _, err := auth.New(got, nil); err != nil {
				t.Errorf("New(ConfigFromEnv(...)): %v", err)
			}
		})
	}
}
