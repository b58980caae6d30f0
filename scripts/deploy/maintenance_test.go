package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectors.dev/connectors/functions/maintenance"
)

// schedulerAccount is the email of the service account the plan creates
// for Cloud Scheduler ("" when none).
func schedulerAccount(p *plan) string {
	v, err := p.vars()
	if err != nil {
		return ""
	}
	for _, rc := range p.ResourceChanges {
		if rc.Address == "google_service_account.scheduler" {
			return str(rc.Change.After, "account_id") + "@" + v.Project + ".iam.gserviceaccount.com"
		}
	}
	return ""
}

// checkMaintenance returns every way the plan breaks the maintenance
// rules: a Cloud Scheduler job POSTs to the maintenance function's URL
// with an OIDC token for the scheduler's own account and that URL as
// audience; that account is the function's only invoker, the only
// principal with the scheduler role (CONNECTORS_SCHEDULER_PRINCIPALS),
// and holds no other role.
func checkMaintenance(p *plan) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	v, err := p.vars()
	if err != nil {
		return []string{err.Error()}
	}
	sa := schedulerAccount(p)
	if sa == "" {
		return []string{"no google_service_account.scheduler in the plan"}
	}
	url := "https://" + maintenanceFunction + "-" + v.ProjectNumber + "."
	jobs := 0
	for _, rc := range p.ResourceChanges {
		if rc.Type != "google_cloud_scheduler_job" {
			continue
		}
		jobs++
		target := block(rc.Change.After, "http_target")
		oidc := block(target, "oidc_token")
		if str(target, "http_method") != "POST" || !strings.HasPrefix(str(target, "uri"), url) {
			fail("%s: %s %s, want POST to the maintenance function (%s…)", rc.Address, str(target, "http_method"), str(target, "uri"), url)
		}
		if str(oidc, "service_account_email") != sa {
			fail("%s: OIDC token for %q, want the scheduler's account %s", rc.Address, str(oidc, "service_account_email"), sa)
		}
		if str(oidc, "audience") != str(target, "uri") {
			fail("%s: OIDC audience %q, want the function's URL %q", rc.Address, str(oidc, "audience"), str(target, "uri"))
		}
	}
	if jobs != 1 {
		fail("%d Cloud Scheduler jobs, want 1 (maintenance)", jobs)
	}
	fns, _, _, grants, _, _ := p.scan()
	f, ok := fns[maintenanceFunction]
	if !ok {
		return append(problems, "no maintenance function in the plan")
	}
	if got := f.env["CONNECTORS_SCHEDULER_PRINCIPALS"]; got != "serviceAccount:"+sa {
		fail("maintenance: CONNECTORS_SCHEDULER_PRINCIPALS=%q, want the scheduler's account alone", got)
	}
	if _, err := maintenance.IdleRefreshFromEnv(func(k string) string { return f.env[k] }); err != nil {
		fail("maintenance: %v", err)
	}
	var invokers []string
	for _, g := range grants {
		if g.scope == "service" && invokerRole(g.role) && g.target == maintenanceFunction {
			invokers = append(invokers, g.members...)
		}
		if slices.Contains(g.members, "serviceAccount:"+sa) && !(g.scope == "service" && invokerRole(g.role) && g.target == maintenanceFunction) {
			fail("%s: the scheduler's account holds %s on %s; it may only invoke maintenance", g.addr, g.role, g.target)
		}
	}
	if have := setOf(invokers); !slices.Equal(have, []string{"serviceAccount:" + sa}) {
		fail("maintenance: invokers %v, want exactly the scheduler's account", have)
	}
	return problems
}

func TestPlanSchedulesMaintenance(t *testing.T) {
	p := loadPlan(t)
	for _, problem := range checkMaintenance(p) {
		t.Error(problem)
	}
}

// TestMaintenanceChecksCatchBreaches breaks the real plan in the ways the
// maintenance checks exist for.
func TestMaintenanceChecksCatchBreaches(t *testing.T) {
	add := func(p *plan, typ string, after map[string]any) {
		rc := resourceChange{Address: typ + ".breach", Type: typ}
		rc.Change.Actions = []string{"create"}
		rc.Change.After = after
		p.ResourceChanges = append(p.ResourceChanges, rc)
	}
	expectReported(t, loadPlan(t), checkMaintenance, []breachCase{
		{"another invoker", func(p *plan) {
			add(p, "google_cloud_run_v2_service_iam_member", map[string]any{"name": "maintenance", "role": "roles/run.invoker", "member": "user:admin@example.com"})
		}, "invokers"},
		{"token for another account", func(p *plan) {
			for i := range p.ResourceChanges {
				if p.ResourceChanges[i].Type == "google_cloud_scheduler_job" {
					oidc := block(block(p.ResourceChanges[i].Change.After, "http_target"), "oidc_token")
					oidc["service_account_email"] = "fn-token@connectors-ci.iam.gserviceaccount.com"
				}
			}
		}, "OIDC token"},
		{"scheduler with a role", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/datastore.user", "member": "serviceAccount:connectors-scheduler@connectors-ci.iam.gserviceaccount.com"})
		}, "may only invoke"},
	})
}
