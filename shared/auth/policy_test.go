package auth_test

import (
	"slices"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

func TestMayActFor(t *testing.T) {
	const sa1, sa2 = "sa1@p.iam.gserviceaccount.com", "sa2@p.iam.gserviceaccount.com"
	agent := func(email string) auth.Principal {
		return auth.Principal{Email: email, Roles: []auth.Role{auth.RoleAgent}}
	}
	admin := auth.Principal{Email: adminEmail, Roles: []auth.Role{auth.RoleAdmin}}
	local := auth.Principal{Email: auth.LocalDev, Roles: []auth.Role{auth.RoleAdmin, auth.RoleAgent}, Local: true}

	unbound := auth.Config{Agents: []string{sa1, sa2}}
	bound := auth.Config{AgentBindings: map[string][]string{
		"agentA": {"serviceAccount:" + sa1},
		"agentB": {sa1, "serviceAccount:SA2@p.iam.gserviceaccount.com"},
	}}
	localBound := bound
	localBound.Local = true

	tests := []struct {
		name  string
		cfg   auth.Config
		p     auth.Principal
		agent string
		want  bool
	}{
		{"no bindings: any agent principal", unbound, agent(sa1), "anything", true},
		{"no bindings: other agent principal", unbound, agent(sa2), "agentA", true},
		{"no bindings: admin is not an agent", unbound, admin, "agentA", false},
		{"no bindings: empty agent ID", unbound, agent(sa1), "", false},
		{"bound", bound, agent(sa1), "agentA", true},
		{"bound to two", bound, agent(sa1), "agentB", true},
		{"bound, case-insensitive", bound, agent("SA2@P.iam.gserviceaccount.com"), "agentB", true},
		{"not bound to this agent", bound, agent(sa2), "agentA", false},
		{"agent without bindings", bound, agent(sa1), "agentC", false},
		{"bound principal lacking role", bound, auth.Principal{Email: sa1}, "agentA", false},
		{"local-dev in local mode", localBound, local, "agentC", true},
		{"local-dev outside local mode", bound, local, "agentA", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuth(t, tt.cfg, nil)
			if got := a.MayActFor(tt.p, tt.agent); got != tt.want {
				t.Errorf("MayActFor(%v, %q) = %v, want %v", tt.p, tt.agent, got, tt.want)
			}
		})
	}
}

// Bound principals get the agent role from the binding alone, so that the
// binding list need not be repeated in Agents.
func TestBindingGrantsAgentRole(t *testing.T) {
	g := authtest.NewIssuer(t)
	cfg := auth.Config{Audience: testAudience, AgentBindings: map[string][]string{"agentA": {agentEmail}}}
	a := newAuth(t, cfg, g.Client)
	p, err := a.Authenticate(request(g.Sign(t, g.Key, claims(agentEmail, nil))), auth.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	if !a.MayActFor(p, "agentA") || a.MayActFor(p, "agentB") {
		t.Errorf("bindings not applied to %+v", p)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"group admin", auth.Config{Admins: []string{"group:admins@example.com"}}, "Config.Admins"},
		{"not an email", auth.Config{Agents: []string{"runtime"}}, "Config.Agents"},
		{"empty agent ID", auth.Config{AgentBindings: map[string][]string{"": {agentEmail}}}, "empty agent ID"},
		{"empty binding", auth.Config{AgentBindings: map[string][]string{"a": nil}}, "no principals"},
		{"bad bound member", auth.Config{AgentBindings: map[string][]string{"a": {"x"}}}, `AgentBindings["a"]`},
		{"trust Cloud Run in a local run", auth.Config{Local: true, TrustCloudRunIAM: true}, "TrustCloudRunIAM"},
		{"IAP audience is a URL", auth.Config{IAPAudiences: []string{"https://console.example.com"}}, "Config.IAPAudiences"},
		{"empty IAP audience", auth.Config{IAPAudiences: []string{" "}}, "Config.IAPAudiences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.New(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestRoleString(t *testing.T) {
	got := []string{auth.RoleAdmin.String(), auth.RoleAgent.String(), auth.Role(9).String()}
	if want := []string{"admin", "agent", "Role(9)"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestSoleAgent: a caller bound to exactly one agent ID gets it; bound to
// two, to none, unbound deployments and local-dev get nothing (they must
// name the agent).
func TestSoleAgent(t *testing.T) {
	const sa1, sa2, sa3 = "sa1@p.iam.gserviceaccount.com", "sa2@p.iam.gserviceaccount.com", "sa3@p.iam.gserviceaccount.com"
	agent := func(email string) auth.Principal {
		return auth.Principal{Email: email, Roles: []auth.Role{auth.RoleAgent}}
	}
	bound := auth.Config{Agents: []string{sa3}, AgentBindings: map[string][]string{
		"agentA": {"serviceAccount:" + sa1, sa2},
		"agentB": {sa2},
	}, Local: true}
	a := newAuth(t, bound, nil)
	tests := []struct {
		name string
		p    auth.Principal
		want string
	}{
		{"bound to one", agent(sa1), "agentA"},
		{"bound to one, case-insensitive", agent("SA1@P.iam.gserviceaccount.com"), "agentA"},
		{"bound to two", agent(sa2), ""},
		{"agent principal bound to none", agent(sa3), ""},
		{"bound principal lacking the role", auth.Principal{Email: sa1}, ""},
		{"local-dev", auth.Principal{Email: auth.LocalDev, Roles: []auth.Role{auth.RoleAgent}, Local: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := a.SoleAgent(tt.p)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("SoleAgent(%v) = %q, %v; want %q", tt.p, got, ok, tt.want)
			}
		})
	}
	if got, ok := newAuth(t, auth.Config{Agents: []string{sa1}}, nil).SoleAgent(agent(sa1)); ok {
		t.Errorf("without bindings SoleAgent = %q, want none", got)
	}
}
