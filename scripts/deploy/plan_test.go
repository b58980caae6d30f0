package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The provider .ci/run builds from the module proxy (the Terraform registry
// is out of reach); the test builds nothing itself.
const (
	providerModule  = "github.com/hashicorp/terraform-provider-google"
	providerVersion = "v1.20.1-0.20260828184646-f3721fb45fa3"
)

// PlanEnv names the JSON of `terraform show -json PLAN` that .ci/run made
// from testdata/ci.tfvars; without it the test plans itself when terraform
// and the provider are there.
const PlanEnv = "CONNECTORS_TF_PLAN_JSON"

// ProviderDirEnv names the directory holding terraform-provider-google
// (default ~/.cache/connectors/terraform-provider-google/<version>).
const ProviderDirEnv = "CONNECTORS_TF_PROVIDER_DIR"

// The deployment's functions, as the checks expect them.
var (
	adminFunctions = []string{"connectors-create", "connectors-delete", "connectors-get", "connectors-list", "connectors-test", "connectors-update"}
	agentFunctions = []string{"files", "token"}
	// readOnly functions must not reach Secret Manager at all.
	readOnly = []string{"connectors-get", "connectors-list"}
)

// plan is the part of `terraform show -json` the checks read.
type plan struct {
	Variables map[string]struct {
		Value json.RawMessage `json:"value"`
	} `json:"variables"`
	ResourceChanges []resourceChange `json:"resource_changes"`
}

type resourceChange struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Change  struct {
		Actions []string       `json:"actions"`
		After   map[string]any `json:"after"`
	} `json:"change"`
}

// vars are the plan's input variables the checks compare against.
type vars struct {
	Project       string              `json:"project"`
	ProjectNumber string              `json:"project_number"`
	SecretPrefix  string              `json:"secret_prefix"`
	Admins        []string            `json:"admin_members"`
	Agents        []string            `json:"agent_members"`
	Bindings      map[string][]string `json:"agent_bindings"`
}

func (p *plan) vars() (vars, error) {
	var v vars
	for name, dst := range map[string]any{
		"project": &v.Project, "project_number": &v.ProjectNumber, "secret_prefix": &v.SecretPrefix,
		"admin_members": &v.Admins, "agent_members": &v.Agents, "agent_bindings": &v.Bindings,
	} {
		raw, ok := p.Variables[name]
		if !ok {
			return v, fmt.Errorf("the plan has no variable %s", name)
		}
		if err := json.Unmarshal(raw.Value, dst); err != nil {
			return v, fmt.Errorf("variable %s: %w", name, err)
		}
	}
	return v, nil
}

// grant is one IAM grant found in the plan.
type grant struct {
	addr      string
	scope     string // "project", "secret", "service" (a function's Cloud Run service), "other"
	target    string // the secret or service for those scopes
	role      string
	members   []string
	condition string // the condition's expression, "" when unconditioned
}

// function is one planned google_cloudfunctions2_function.
type function struct {
	name, entryPoint, serviceAccount string
	env                              map[string]string
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func block(m map[string]any, k string) map[string]any {
	if l, ok := m[k].([]any); ok && len(l) > 0 {
		b, _ := l[0].(map[string]any)
		return b
	}
	return nil
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// scan extracts what the checks need from the planned resources (those
// created or updated; deletions grant nothing).
func (p *plan) scan() (fns map[string]function, sas map[string]string, roles map[string][]string, grants []grant, problems []string) {
	fns = map[string]function{}
	sas = map[string]string{}     // email -> address
	roles = map[string][]string{} // projects/P/roles/ID -> permissions
	for _, rc := range p.ResourceChanges {
		a := rc.Change.After
		if a == nil || slices.Equal(rc.Change.Actions, []string{"delete"}) {
			continue
		}
		switch rc.Type {
		case "google_cloudfunctions2_function":
			f := function{name: str(a, "name"), env: map[string]string{}}
			if b := block(a, "build_config"); b != nil {
				f.entryPoint = str(b, "entry_point")
			}
			if s := block(a, "service_config"); s != nil {
				f.serviceAccount = str(s, "service_account_email")
				if env, ok := s["environment_variables"].(map[string]any); ok {
					for k, v := range env {
						f.env[k], _ = v.(string)
					}
				}
			}
			fns[f.name] = f
		case "google_service_account":
			sas[str(a, "account_id")+"@"+str(a, "project")+".iam.gserviceaccount.com"] = rc.Address
		case "google_project_iam_custom_role":
			roles["projects/"+str(a, "project")+"/roles/"+str(a, "role_id")] = strs(a["permissions"])
		}
		if !strings.Contains(rc.Type, "_iam_") || rc.Type == "google_project_iam_custom_role" {
			continue
		}
		if strings.HasSuffix(rc.Type, "_iam_policy") {
			problems = append(problems, fmt.Sprintf("%s: an authoritative IAM policy cannot be checked grant by grant; use _iam_member", rc.Address))
			continue
		}
		g := grant{addr: rc.Address, role: str(a, "role"), scope: "other"}
		if m := str(a, "member"); m != "" {
			g.members = []string{m}
		}
		g.members = append(g.members, strs(a["members"])...)
		if c := block(a, "condition"); c != nil {
			g.condition = str(c, "expression")
		}
		switch {
		case strings.HasPrefix(rc.Type, "google_project_iam_"):
			g.scope = "project"
		case strings.HasPrefix(rc.Type, "google_secret_manager_secret_iam_"):
			g.scope, g.target = "secret", str(a, "secret_id")
		case strings.HasPrefix(rc.Type, "google_cloud_run_v2_service_iam_"):
			g.scope, g.target = "service", lastSegment(str(a, "name"))
		case strings.HasPrefix(rc.Type, "google_cloud_run_service_iam_"):
			g.scope, g.target = "service", lastSegment(str(a, "service"))
		case strings.HasPrefix(rc.Type, "google_cloudfunctions2_function_iam_"):
			g.scope, g.target = "service", lastSegment(str(a, "cloud_function"))
		}
		grants = append(grants, g)
	}
	return fns, sas, roles, grants, problems
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// secretRole says whether role grants any Secret Manager permission.
func secretRole(role string, custom map[string][]string) bool {
	if strings.HasPrefix(role, "roles/secretmanager.") || role == "roles/owner" || role == "roles/editor" {
		return true
	}
	return slices.ContainsFunc(custom[role], func(p string) bool { return strings.HasPrefix(p, "secretmanager.") })
}

// projectType is the resource type of the project, against which
// secretmanager.secrets.create is authorized.
const projectType = `resource.type == "cloudresourcemanager.googleapis.com/Project"`

// fenced says whether a condition limits a Secret Manager grant to the
// prefix: each of its alternatives ("||", split without regard to
// parentheses, which can only make it stricter) must start by requiring the
// prefix clause, except that a role holding only secretmanager.secrets.create may
// also be granted on the project itself (creating a secret is authorized
// there; everything done to the secret afterwards is fenced).
func fenced(condition, prefixClause string, createOnly bool) bool {
	for _, alt := range strings.Split(condition, "||") {
		alt = strings.TrimSpace(alt)
		switch {
		case createOnly && alt == projectType:
		case alt == prefixClause || strings.HasPrefix(alt, prefixClause+" && "):
			// Conjunctions only narrow the grant.
		default:
			return false
		}
	}
	return true
}

func invokerRole(role string) bool {
	return role == "roles/run.invoker" || role == "roles/cloudfunctions.invoker" || role == "roles/run.servicesInvoker"
}

func setOf(lists ...[]string) []string {
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			seen[s] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// checkPlan returns every way the plan breaks the deployment's rules.
func checkPlan(p *plan) []string {
	v, err := p.vars()
	if err != nil {
		return []string{err.Error()}
	}
	fns, sas, custom, grants, problems := p.scan()
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := setOf(adminFunctions, agentFunctions)
	var got []string
	for name := range fns {
		got = append(got, name)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		fail("functions %v, want %v", got, want)
	}

	// Every function runs as its own service account, created here.
	owner := map[string]string{} // service account email -> function
	for _, name := range got {
		f := fns[name]
		if f.entryPoint != name {
			fail("%s: entry point %q, want the function's name", name, f.entryPoint)
		}
		if f.serviceAccount == "" {
			fail("%s: no service account (it would run as the default compute account)", name)
			continue
		}
		if other, ok := owner[f.serviceAccount]; ok {
			fail("%s and %s share the service account %s", other, name, f.serviceAccount)
		}
		owner[f.serviceAccount] = name
		if _, ok := sas[f.serviceAccount]; !ok {
			fail("%s: service account %s is not created by this configuration", name, f.serviceAccount)
		}
		for k, want := range map[string]string{
			"GOOGLE_CLOUD_PROJECT":           v.Project,
			"CONNECTORS_SECRET_PREFIX":       v.SecretPrefix,
			"CONNECTORS_TRUST_CLOUD_RUN_IAM": "true",
			"CONNECTORS_ADMINS":              strings.Join(v.Admins, ","),
			"CONNECTORS_AGENT_PRINCIPALS":    strings.Join(v.Agents, ","),
		} {
			if f.env[k] != want {
				fail("%s: %s=%q, want %q", name, k, f.env[k], want)
			}
		}
		for agent, members := range v.Bindings {
			if !strings.Contains(f.env["CONNECTORS_AGENT_BINDINGS"], agent+"="+strings.Join(members, "|")) {
				fail("%s: CONNECTORS_AGENT_BINDINGS=%q lacks %s", name, f.env["CONNECTORS_AGENT_BINDINGS"], agent)
			}
		}
	}

	prefixClause := fmt.Sprintf("resource.name.startsWith(%q)", "projects/"+v.ProjectNumber+"/secrets/"+v.SecretPrefix)
	secretAccess := map[string]bool{} // function -> holds some Secret Manager grant
	invokers := map[string][]string{}
	for _, g := range grants {
		for _, m := range g.members {
			if m == "allUsers" || m == "allAuthenticatedUsers" {
				fail("%s: grants %s to %s", g.addr, g.role, m)
			}
		}
		if g.scope == "service" && invokerRole(g.role) {
			if _, ok := fns[g.target]; !ok {
				fail("%s: invoker grant on %q, which is no function here", g.addr, g.target)
			}
			invokers[g.target] = append(invokers[g.target], g.members...)
		}
		if !secretRole(g.role, custom) {
			continue
		}
		if g.scope == "project" {
			if g.condition == "" {
				fail("%s: project-level Secret Manager role %s without a condition", g.addr, g.role)
			} else if !fenced(g.condition, prefixClause, slices.Equal(custom[g.role], []string{"secretmanager.secrets.create"})) {
				fail("%s: the condition of %s (%s) does not limit it to %s", g.addr, g.role, g.condition, prefixClause)
			}
		}
		for _, m := range g.members {
			if fn, ok := owner[strings.TrimPrefix(m, "serviceAccount:")]; ok {
				secretAccess[fn] = true
				if g.role == "roles/owner" || g.role == "roles/editor" {
					fail("%s: function %s gets %s", g.addr, fn, g.role)
				}
			}
		}
	}
	for _, name := range got {
		reads := slices.Contains(readOnly, name)
		switch {
		case reads && secretAccess[name]:
			fail("%s must not reach Secret Manager, but its service account has a Secret Manager role", name)
		case !reads && !secretAccess[name]:
			fail("%s needs its connectors' secrets but gets no Secret Manager role", name)
		}
	}

	var bound []string
	for _, members := range v.Bindings {
		bound = append(bound, members...)
	}
	for _, name := range got {
		want := setOf(v.Admins)
		if slices.Contains(agentFunctions, name) {
			want = setOf(v.Agents, bound)
		}
		if have := setOf(invokers[name]); !slices.Equal(have, want) {
			fail("%s: invokers %v, want exactly %v", name, have, want)
		}
	}
	return problems
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// missing skips, or under CI=true fails: CI must run every check.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: required)")
	}
	t.Skip(msg)
}

// loadPlan returns the plan of testdata/ci.tfvars: the one named by
// PlanEnv, or one made here.
func loadPlan(t *testing.T) *plan {
	t.Helper()
	var b []byte
	if path := os.Getenv(PlanEnv); path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			t.Fatalf("%s: %v", PlanEnv, err)
		}
	} else {
		madePlan.Lock()
		if madePlan.json == nil {
			madePlan.json = makePlan(t)
		}
		b = madePlan.json
		madePlan.Unlock()
	}
	var p plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("plan JSON: %v", err)
	}
	if len(p.ResourceChanges) == 0 {
		t.Fatal("the plan changes nothing")
	}
	return &p
}

// madePlan keeps the plan makePlan made for the other tests of this run.
var madePlan struct {
	sync.Mutex
	json []byte
}

// makePlan does what .ci/run does: stage, then validate and plan a copy of
// terraform/ (without its GCS backend) offline against the locally built
// provider, with a fake access token.
func makePlan(t *testing.T) []byte {
	t.Helper()
	tf, err := exec.LookPath("terraform")
	if err != nil {
		missing(t, "terraform is not on PATH and %s is unset", PlanEnv)
	}
	providerDir := os.Getenv(ProviderDirEnv)
	if providerDir == "" {
		home, _ := os.UserHomeDir()
		providerDir = filepath.Join(home, ".cache", "connectors", "terraform-provider-google", providerVersion)
	}
	if _, err := os.Stat(filepath.Join(providerDir, "terraform-provider-google")); err != nil {
		missing(t, "no provider in %s (build it: GOBIN=%s go install %s@%s) and %s is unset", providerDir, providerDir, providerModule, providerVersion, PlanEnv)
	}
	root := repoRoot(t)
	work := t.TempDir()
	stage := exec.Command("go", "run", "./scripts/stage", "-out", filepath.Join(work, "stage"))
	stage.Dir = root
	if b, err := stage.CombinedOutput(); err != nil {
		t.Fatalf("stage: %v\n%s", err, b)
	}
	tfDir := filepath.Join(work, "tf")
	if err := os.Mkdir(tfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "terraform", "*.tf"))
	for _, f := range files {
		if filepath.Base(f) == "backend.tf" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tfDir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cli := filepath.Join(work, "cli.tfrc")
	conf := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"hashicorp/google\" = %q\n  }\n  direct {}\n}\n", providerDir)
	if err := os.WriteFile(cli, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+cli, "GOOGLE_OAUTH_ACCESS_TOKEN=fake", "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	terraform := func(args ...string) []byte {
		cmd := exec.Command(tf, append([]string{"-chdir=" + tfDir}, args...)...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	vars, err := filepath.Abs(filepath.Join("testdata", "ci.tfvars"))
	if err != nil {
		t.Fatal(err)
	}
	terraform("validate", "-no-color")
	terraform("plan", "-input=false", "-lock=false", "-no-color", "-var-file="+vars, "-var=source_dir="+filepath.Join(work, "stage"), "-out=plan.tfplan")
	return terraform("show", "-json", "plan.tfplan")
}

func TestTerraformPlanKeepsFunctionsPrivateAndSecretsFenced(t *testing.T) {
	p := loadPlan(t)
	for _, problem := range checkPlan(p) {
		t.Error(problem)
	}
}

// TestPlanChecksCatchBreaches breaks the real plan in the ways the checks
// exist for and makes sure each is reported.
func TestPlanChecksCatchBreaches(t *testing.T) {
	good := loadPlan(t)
	raw, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	v, err := good.vars()
	if err != nil {
		t.Fatal(err)
	}
	saOf := func(p *plan, fn string) string {
		fns, _, _, _, _ := p.scan()
		return "serviceAccount:" + fns[fn].serviceAccount
	}
	add := func(p *plan, typ string, after map[string]any) {
		rc := resourceChange{Address: typ + ".injected", Type: typ}
		rc.Change.Actions = []string{"create"}
		rc.Change.After = after
		p.ResourceChanges = append(p.ResourceChanges, rc)
	}
	cases := []struct {
		name   string
		breach func(p *plan)
		want   string
	}{
		{"public invoker", func(p *plan) {
			add(p, "google_cloud_run_v2_service_iam_member", map[string]any{"name": "token", "role": "roles/run.invoker", "member": "allUsers"})
		}, "allUsers"},
		{"extra invoker", func(p *plan) {
			add(p, "google_cloudfunctions2_function_iam_member", map[string]any{"cloud_function": "connectors-create", "role": "roles/cloudfunctions.invoker", "member": "user:eve@example.com"})
		}, "invokers"},
		{"unconditioned secret admin", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/secretmanager.admin", "member": saOf(p, "connectors-create")})
		}, "without a condition"},
		{"condition on another prefix", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/secretmanager.secretAccessor", "member": saOf(p, "token"),
				"condition": []any{map[string]any{"expression": `resource.name.startsWith("projects/` + v.ProjectNumber + `/secrets/")`}}})
		}, "does not limit"},
		{"widened condition", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/secretmanager.secretAccessor", "member": saOf(p, "token"),
				"condition": []any{map[string]any{"expression": `resource.name.startsWith("projects/` + v.ProjectNumber + `/secrets/` + v.SecretPrefix + `") || true`}}})
		}, "does not limit"},
		{"project branch on a wide role", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/secretmanager.admin", "member": saOf(p, "connectors-update"),
				"condition": []any{map[string]any{"expression": projectType + ` || resource.name.startsWith("projects/` + v.ProjectNumber + `/secrets/` + v.SecretPrefix + `")`}}})
		}, "does not limit"},
		{"list reads secrets", func(p *plan) {
			add(p, "google_secret_manager_secret_iam_member", map[string]any{"secret_id": "x", "role": "roles/secretmanager.secretAccessor", "member": saOf(p, "connectors-list")})
		}, "connectors-list must not reach Secret Manager"},
		{"shared service account", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "connectors-get" {
					block(p.ResourceChanges[i].Change.After, "service_config")["service_account_email"] = strings.TrimPrefix(saOf(p, "connectors-list"), "serviceAccount:")
				}
			}
		}, "share the service account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p plan
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			c.breach(&p)
			problems := checkPlan(&p)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("breach not reported (want a problem mentioning %q); got %q", c.want, problems)
			}
		})
	}
}

// TestCIBuildsTheProviderThePlanTestExpects keeps .ci/run and this package
// on one provider version.
func TestCIBuildsTheProviderThePlanTestExpects(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), providerVersion) || !strings.Contains(string(b), PlanEnv) {
		t.Errorf(".ci/run does not build %s@%s and export %s", providerModule, providerVersion, PlanEnv)
	}
}
