package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/proxy"
)

// proxyVars are the proxy's own Terraform variables, as planned.
func proxyVars(t *testing.T, p *plan) (timeoutSeconds, maxBody int64) {
	t.Helper()
	for name, dst := range map[string]*int64{"proxy_timeout_seconds": &timeoutSeconds, "proxy_max_body_bytes": &maxBody} {
		raw, ok := p.Variables[name]
		if !ok {
			t.Fatalf("the plan has no variable %s", name)
		}
		if err := json.Unmarshal(raw.Value, dst); err != nil {
			t.Fatalf("variable %s: %v", name, err)
		}
	}
	return timeoutSeconds, maxBody
}

// grantKey is what a grant gives, whoever it goes to.
func grantKey(g grant) string { return g.scope + " " + g.target + " " + g.role + " if " + g.condition }

// grantsOf lists what the service account sa is granted, sorted.
func grantsOf(grants []grant, sa string) []string {
	var out []string
	for _, g := range grants {
		if slices.Contains(g.members, "serviceAccount:"+sa) {
			out = append(out, grantKey(g))
		}
	}
	slices.Sort(out)
	return out
}

// checkProxyLikeToken reports every way the proxy function is deployed
// otherwise than token, whose caller and minting it shares: the same
// invokers, the same grants (Secret Manager fenced by the secret prefix,
// the token cache's database, the key) to its own service account, the
// same environment plus the proxy's settings, and a platform timeout above
// its own bound on a call.
func checkProxyLikeToken(p *plan, timeoutSeconds, maxBody int64) []string {
	fns, _, _, grants, _, _ := p.scan()
	var out []string
	fail := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	px, ok := fns["proxy"]
	if !ok {
		return []string{"the plan deploys no proxy function"}
	}
	tok, ok := fns["token"]
	if !ok {
		return []string{"the plan deploys no token function"}
	}
	if px.serviceAccount == "" || px.serviceAccount == tok.serviceAccount {
		fail("proxy: service account %q, want its own", px.serviceAccount)
	}
	if px.entryPoint != "proxy" {
		fail("proxy: entry point %q, want proxy", px.entryPoint)
	}
	if px.ingress != tok.ingress {
		fail("proxy: ingress %q, want token's %q", px.ingress, tok.ingress)
	}

	// Invokers: exactly token's.
	invokers := map[string][]string{}
	for _, g := range grants {
		if g.scope == "service" && invokerRole(g.role) {
			invokers[g.target] = append(invokers[g.target], g.members...)
		}
	}
	if have, want := setOf(invokers["proxy"]), setOf(invokers["token"]); !slices.Equal(have, want) || len(want) == 0 {
		fail("proxy: invokers %v, want token's %v", have, want)
	}

	// Grants: exactly token's, each to the proxy's own account.
	if have, want := grantsOf(grants, px.serviceAccount), grantsOf(grants, tok.serviceAccount); !slices.Equal(have, want) {
		fail("proxy: grants %q, want token's %q", have, want)
	}

	// Environment: token's, its own audiences, and the proxy's settings.
	want := maps.Clone(tok.env)
	delete(want, "CONNECTORS_AUDIENCE")
	want["CONNECTORS_PROXY_TIMEOUT"] = strconv.FormatInt(timeoutSeconds, 10) + "s"
	want["CONNECTORS_PROXY_MAX_BODY_BYTES"] = strconv.FormatInt(maxBody, 10)
	have := maps.Clone(px.env)
	delete(have, "CONNECTORS_AUDIENCE")
	maxDuration, err := time.ParseDuration(have["CONNECTORS_PROXY_MAX_DURATION"])
	if err != nil {
		fail("proxy: CONNECTORS_PROXY_MAX_DURATION %q: %v", have["CONNECTORS_PROXY_MAX_DURATION"], err)
	}
	want["CONNECTORS_PROXY_MAX_DURATION"] = have["CONNECTORS_PROXY_MAX_DURATION"]
	if !maps.Equal(have, want) {
		fail("proxy: environment %v, want token's with the proxy settings: %v", have, want)
	}
	if !slices.Equal(px.unknownEnv, tok.unknownEnv) {
		fail("proxy: known after apply %v, want token's %v", px.unknownEnv, tok.unknownEnv)
	}
	if aud := px.env["CONNECTORS_AUDIENCE"]; !strings.Contains(aud, "/proxy,") || !strings.Contains(aud, "https://proxy-") {
		fail("proxy: CONNECTORS_AUDIENCE %q names not the proxy's own URLs", aud)
	}
	// The settings as the function reads them at start.
	limits, err := proxy.LimitsFromEnv(func(k string) string { return px.env[k] })
	switch {
	case err != nil:
		fail("proxy: the function would not start: %v", err)
	case limits.Timeout != time.Duration(timeoutSeconds)*time.Second || limits.MaxBody != maxBody:
		fail("proxy: limits %+v, want the timeout %ds and the body limit %d of the variables", limits, timeoutSeconds, maxBody)
	case px.timeout <= maxDuration || px.timeout > time.Hour:
		fail("proxy: platform timeout %v, want above CONNECTORS_PROXY_MAX_DURATION %v and at most Cloud Run's hour", px.timeout, maxDuration)
	}

	// Where agents find it.
	// Where agents find it (the URL is known after apply).
	if _, ok := p.OutputChanges["proxy_url"]; !ok {
		fail("no proxy_url output")
	}
	return out
}

// TestPlanDeploysTheProxyLikeToken: the proxy function makes the calls
// token's callers would make with token's credentials, so it is deployed
// as token is (who may call it, what its identity may read) apart from its
// own service account, audiences, settings and longer timeout.
func TestPlanDeploysTheProxyLikeToken(t *testing.T) {
	p := loadPlan(t)
	timeoutSeconds, maxBody := proxyVars(t, p)
	if timeoutSeconds != 60 || maxBody != proxy.DefaultMaxBody {
		t.Errorf("testdata/ci.tfvars should keep the defaults: proxy_timeout_seconds %d, proxy_max_body_bytes %d", timeoutSeconds, maxBody)
	}
	for _, problem := range checkProxyLikeToken(p, timeoutSeconds, maxBody) {
		t.Error(problem)
	}

	saOf := func(p *plan, fn string) string {
		fns, _, _, _, _, _ := p.scan()
		return "serviceAccount:" + fns[fn].serviceAccount
	}
	add := func(p *plan, typ string, after map[string]any) {
		rc := resourceChange{Address: typ + ".injected", Type: typ}
		rc.Change.Actions = []string{"create"}
		rc.Change.After = after
		p.ResourceChanges = append(p.ResourceChanges, rc)
	}
	setEnv := func(p *plan, fn, k, v string) {
		o := p.OutputChanges["function_environment"]
		var after map[string]map[string]any
		if err := json.Unmarshal(o.After, &after); err != nil {
			t.Fatal(err)
		}
		if v == "" {
			delete(after[fn], k)
		} else {
			after[fn][k] = v
		}
		o.After, _ = json.Marshal(after)
		p.OutputChanges["function_environment"] = o
	}
	check := func(p *plan) []string { return checkProxyLikeToken(p, timeoutSeconds, maxBody) }
	expectReported(t, p, check, []breachCase{
		{"an extra invoker", func(p *plan) {
			add(p, "google_cloud_run_v2_service_iam_member", map[string]any{"name": "proxy", "role": "roles/run.invoker", "member": "user:eve@example.com"})
		}, "proxy: invokers"},
		{"an unfenced secret reader", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/secretmanager.secretAccessor", "member": saOf(p, "proxy")})
		}, "proxy: grants"},
		{"write access to the connectors", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/datastore.owner", "member": saOf(p, "proxy")})
		}, "proxy: grants"},
		{"token's account", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "proxy" {
					block(p.ResourceChanges[i].Change.After, "service_config")["service_account_email"] = strings.TrimPrefix(saOf(p, "token"), "serviceAccount:")
				}
			}
		}, "want its own"},
		{"another agent binding", func(p *plan) {
			setEnv(p, "proxy", "CONNECTORS_AGENT_BINDINGS", "mailer=user:eve@example.com")
		}, "proxy: environment"},
		{"no body limit", func(p *plan) { setEnv(p, "proxy", "CONNECTORS_PROXY_MAX_BODY_BYTES", "") }, "proxy: environment"},
		{"an hour-long call", func(p *plan) { setEnv(p, "proxy", "CONNECTORS_PROXY_MAX_DURATION", "1h") }, "proxy: platform timeout"},
		{"token's audiences", func(p *plan) {
			fns, _, _, _, _, _ := p.scan()
			setEnv(p, "proxy", "CONNECTORS_AUDIENCE", fns["token"].env["CONNECTORS_AUDIENCE"])
		}, "proxy: CONNECTORS_AUDIENCE"},
		{"no proxy", func(p *plan) {
			p.ResourceChanges = slices.DeleteFunc(p.ResourceChanges, func(rc resourceChange) bool {
				return rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "proxy"
			})
		}, "no proxy function"},
	})
}

// TestPlanRefusesProxySettingsCloudRunCannotServe: a body limit above
// Cloud Run's 32 MiB HTTP/1 request limit, or a wait for the first byte
// longer than a call may last, fails the plan, naming the variable.
func TestPlanRefusesProxySettingsCloudRunCannotServe(t *testing.T) {
	for _, c := range []struct{ arg, want string }{
		{"-var=proxy_max_body_bytes=33554433", "proxy_max_body_bytes must be a whole number of bytes from 1 to 33554432"},
		{"-var=proxy_max_body_bytes=0", "proxy_max_body_bytes must be a whole number of bytes from 1 to 33554432"},
		{"-var=proxy_timeout_seconds=3301", "proxy_timeout_seconds must be a whole number from 1 to 3300"},
	} {
		out, ok := planWith(t, c.arg)
		if ok {
			t.Errorf("%s: planned", c.arg)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: the refusal does not say %q:\n%s", c.arg, c.want, out)
		}
	}
	out, ok := planWith(t, "-var=proxy_timeout_seconds=120", "-var=proxy_max_body_bytes=1048576")
	if !ok {
		t.Fatalf("valid proxy settings refused:\n%s", out)
	}
	var p plan
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("plan JSON: %v", err)
	}
	for _, problem := range checkProxyLikeToken(&p, 120, 1048576) {
		t.Error(problem)
	}
}
