package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// planWith plans terraform/ as makePlan does (staged sources, no GCS backend,
// the locally built provider, a fake access token), with testdata/ci.tfvars
// and the extra -var arguments. It returns the plan's JSON, or the failed
// plan's output and ok=false.
func planWith(t *testing.T, extra ...string) (out []byte, ok bool) {
	t.Helper()
	w := newWorkspace(t, "")
	run := func(args ...string) ([]byte, error) { return w.command(args...).CombinedOutput() }
	args := w.planArgs(extra...)
	if b, err := run(args...); err != nil {
		return b, false
	}
	b, err := run("show", "-json", "plan.tfplan")
	if err != nil {
		t.Fatalf("terraform show: %v\n%s", err, b)
	}
	return b, true
}

// TestPlanRequiresUnboundAgentsToBeExplicit: without agent_bindings, every
// agent principal may act for every agent ID, so deploying that way must be
// a choice (allow_unbound_agents = true), never a default. Checked both
// ways: the CI plan is bound and does not allow unbound mode; the same
// variables without bindings fail to plan, naming the variable; with
// allow_unbound_agents they plan, and the functions get no bindings.
func TestPlanRequiresUnboundAgentsToBeExplicit(t *testing.T) {
	p := loadPlan(t)
	var allow bool
	raw, ok := p.Variables["allow_unbound_agents"]
	if !ok {
		t.Fatal("the plan has no variable allow_unbound_agents")
	}
	if err := json.Unmarshal(raw.Value, &allow); err != nil {
		t.Fatalf("allow_unbound_agents: %v", err)
	}
	v, err := p.vars()
	if err != nil {
		t.Fatal(err)
	}
	if allow || len(v.Bindings) == 0 {
		t.Fatalf("the CI plan: allow_unbound_agents=%v with %d bindings; want false with bindings", allow, len(v.Bindings))
	}

	out, ok := planWith(t, "-var=agent_bindings={}")
	if ok {
		t.Fatal("terraform planned a deployment without agent_bindings and without allow_unbound_agents")
	}
	for _, want := range []string{"allow_unbound_agents", "agent_bindings is empty"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refused plan does not say %q:\n%s", want, out)
		}
	}

	out, ok = planWith(t, "-var=agent_bindings={}", "-var=allow_unbound_agents=true")
	if !ok {
		t.Fatalf("terraform refused unbound mode although allow_unbound_agents = true:\n%s", out)
	}
	var unbound plan
	if err := json.Unmarshal(out, &unbound); err != nil {
		t.Fatalf("plan JSON: %v", err)
	}
	fns, _, _, _, _, _ := unbound.scan()
	for _, name := range append(append([]string{}, adminFunctions...), agentFunctions...) {
		f, ok := fns[name]
		if !ok {
			t.Fatalf("the unbound plan lacks %s", name)
		}
		if b, set := f.env["CONNECTORS_AGENT_BINDINGS"]; !set || b != "" {
			t.Errorf("%s: CONNECTORS_AGENT_BINDINGS=%q (set %v), want empty", name, b, set)
		}
	}
}

// TestPlanSetsEachFunctionsOwnAudiences: every function that checks ID
// tokens is told its own URLs (cloudfunctions.net with its name, and its
// deterministic run.app URL), never the project's shared origin, so that a
// token minted for one function is refused by the others.
func TestPlanSetsEachFunctionsOwnAudiences(t *testing.T) {
	p := loadPlan(t)
	v, err := p.vars()
	if err != nil {
		t.Fatal(err)
	}
	var region string
	if raw, ok := p.Variables["region"]; !ok || json.Unmarshal(raw.Value, &region) != nil {
		t.Fatal("the plan has no region")
	}
	fns, _, _, _, _, _ := p.scan()
	for _, name := range append(append([]string{}, adminFunctions...), agentFunctions...) {
		want := fmt.Sprintf("https://%s-%s.cloudfunctions.net/%s,https://%s-%s.%s.run.app", region, v.Project, name, name, v.ProjectNumber, region)
		if got := fns[name].env["CONNECTORS_AUDIENCE"]; got != want {
			t.Errorf("%s: CONNECTORS_AUDIENCE=%q, want %q", name, got, want)
		}
	}
	if got, set := fns[console].env["CONNECTORS_AUDIENCE"]; set {
		t.Errorf("console: CONNECTORS_AUDIENCE=%q; it checks no tokens", got)
	}
}
