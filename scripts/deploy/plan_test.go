package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/proxy"
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
	adminFunctions = []string{"connectors-authorize", "connectors-create", "connectors-delete", "connectors-get", "connectors-list", "connectors-test", "connectors-update", "oauth-callback"}
	agentFunctions = []string{"files", "mcp", "proxy", "token"}
	// console is the web console: no role at all, behind the load balancer
	// and IAP only.
	console = "console"
	// readOnly functions must not reach Secret Manager at all.
	readOnly = []string{"connectors-get", "connectors-list"}
	// minting functions read the token-cache key.
	minting = []string{"connectors-test", "files", "maintenance", "mcp", "proxy", "token"}
	// maintenance is called by Cloud Scheduler alone (maintenance_test.go).
	maintenanceFunction = "maintenance"
)

// plan is the part of `terraform show -json` the checks read.
type plan struct {
	Variables map[string]struct {
		Value json.RawMessage `json:"value"`
	} `json:"variables"`
	ResourceChanges []resourceChange `json:"resource_changes"`
	OutputChanges   map[string]struct {
		After        json.RawMessage `json:"after"`
		AfterUnknown json.RawMessage `json:"after_unknown"`
	} `json:"output_changes"`
	// Configuration is the configuration as planned: its resources'
	// references and depends_on (order_test.go), the provider constraint.
	Configuration configuration `json:"configuration"`
}

type resourceChange struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Change  struct {
		Actions      []string       `json:"actions"`
		After        map[string]any `json:"after"`
		AfterUnknown map[string]any `json:"after_unknown"`
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
	ConsoleDomain string              `json:"console_domain"`
}

func (p *plan) vars() (vars, error) {
	var v vars
	for name, dst := range map[string]any{
		"project": &v.Project, "project_number": &v.ProjectNumber, "secret_prefix": &v.SecretPrefix,
		"admin_members": &v.Admins, "agent_members": &v.Agents, "agent_bindings": &v.Bindings,
		"console_domain": &v.ConsoleDomain,
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
	scope     string // "project", "secret", "service" (a function's Cloud Run service), "iap" (a backend service), "topic" (Pub/Sub), "other"
	target    string // the secret or service for those scopes
	role      string
	members   []string
	condition string // the condition's expression, "" when unconditioned
}

// function is one planned google_cloudfunctions2_function.
type function struct {
	name, entryPoint, serviceAccount, ingress string
	timeout                                   time.Duration // the platform's
	env                                       map[string]string
	// envUnknown: the provider shows the whole environment as unknown
	// (one of its values is); env then comes from the function_environment
	// output, and unknownEnv names the values known only after apply.
	envUnknown bool
	unknownEnv []string
}

// loadBalancer is the console's load balancer as planned.
type loadBalancer struct {
	negs     map[string]string // NEG name -> Cloud Run service
	backends map[string]bool   // backend service name -> IAP enabled
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
func (p *plan) scan() (fns map[string]function, sas map[string]string, roles map[string][]string, grants []grant, lb loadBalancer, problems []string) {
	fns = map[string]function{}
	lb = loadBalancer{negs: map[string]string{}, backends: map[string]bool{}}
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
				f.ingress = str(s, "ingress_settings")
				if n, ok := s["timeout_seconds"].(float64); ok {
					f.timeout = time.Duration(n) * time.Second
				}
				if env, ok := s["environment_variables"].(map[string]any); ok {
					for k, v := range env {
						f.env[k], _ = v.(string)
					}
				}
			}
			if u := block(rc.Change.AfterUnknown, "service_config"); u != nil && u["environment_variables"] == true {
				f.envUnknown = true
				f.env, f.unknownEnv = p.outputEnv(f.name)
			}
			fns[f.name] = f
		case "google_compute_region_network_endpoint_group", "google_compute_network_endpoint_group", "google_compute_global_network_endpoint_group":
			service := "?"
			if b := block(a, "cloud_run"); b != nil {
				service = str(b, "service")
				if service == "" {
					service = "url_mask " + str(b, "url_mask")
				}
			}
			lb.negs[str(a, "name")] = service
		case "google_compute_backend_service":
			iap := block(a, "iap")
			lb.backends[str(a, "name")] = iap != nil && iap["enabled"] == true
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
		case strings.HasPrefix(rc.Type, "google_iap_web_backend_service_iam_"):
			g.scope, g.target = "iap", lastSegment(str(a, "web_backend_service"))
		case strings.HasPrefix(rc.Type, "google_pubsub_topic_iam_"):
			g.scope, g.target = "topic", lastSegment(str(a, "topic"))
		}
		grants = append(grants, g)
	}
	return fns, sas, roles, grants, lb, problems
}

// outputEnv reads a function's environment from the function_environment
// output: its known values, and the names of those known after apply.
func (p *plan) outputEnv(name string) (env map[string]string, unknown []string) {
	env = map[string]string{}
	o, ok := p.OutputChanges["function_environment"]
	if !ok {
		return env, nil
	}
	var after map[string]map[string]any
	var afterUnknown map[string]any
	_ = json.Unmarshal(o.After, &after)
	_ = json.Unmarshal(o.AfterUnknown, &afterUnknown)
	for k, v := range after[name] {
		env[k], _ = v.(string)
	}
	if u, ok := afterUnknown[name].(map[string]any); ok {
		for k, v := range u {
			if v == true {
				unknown = append(unknown, k)
			}
		}
	}
	sort.Strings(unknown)
	return env, unknown
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
	fns, sas, custom, grants, lb, problems := p.scan()
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := setOf(adminFunctions, agentFunctions, []string{console, maintenanceFunction})
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
		// The service's own deadlines end a request (503, or a read's
		// body cut) before the platform's timeout kills it with an empty
		// answer.
		need := config.DefaultRequestTimeout
		if d, err := time.ParseDuration(f.env["CONNECTORS_REQUEST_TIMEOUT"]); err == nil {
			need = d
		}
		if name == "files" {
			read, err := time.ParseDuration(f.env["CONNECTORS_FILES_READ_TIMEOUT"])
			if err != nil {
				fail("files: CONNECTORS_FILES_READ_TIMEOUT %q: %v", f.env["CONNECTORS_FILES_READ_TIMEOUT"], err)
			}
			need += read
		}
		if name == "proxy" || name == "mcp" {
			// A proxied call (mcp: call_api's) lasts up to its own bound.
			d, err := time.ParseDuration(f.env["CONNECTORS_PROXY_MAX_DURATION"])
			if err != nil {
				fail("%s: CONNECTORS_PROXY_MAX_DURATION %q: %v", name, f.env["CONNECTORS_PROXY_MAX_DURATION"], err)
			}
			need = max(need, d)
		}
		if f.timeout <= need {
			fail("%s: platform timeout %v, want more than the %v its own deadlines allow a request", name, f.timeout, need)
		}
		// The Go runtime as the bench measured it (config.DefaultGCPercent),
		// under a memory limit.
		if f.env["GOGC"] != strconv.Itoa(config.DefaultGCPercent) || f.env["GOMEMLIMIT"] == "" {
			fail("%s: GOGC %q and GOMEMLIMIT %q, want GOGC %d and a memory limit", name, f.env["GOGC"], f.env["GOMEMLIMIT"], config.DefaultGCPercent)
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
		if f.envUnknown && len(f.env) == 0 {
			fail("%s: its environment is unknown until apply and the function_environment output does not show it", name)
		}
		for _, k := range f.unknownEnv {
			// Assigned on creation: the backend service's ID, and the
			// token-cache key's Secret Manager version numbers.
			if k != "CONNECTORS_IAP_AUDIENCES" && k != "CONNECTORS_TOKEN_CACHE_KEY_VERSIONS" {
				fail("%s: %s is unknown until apply", name, k)
			}
		}
		// The minting functions are told which key versions to use (the
		// previous one too during a rotation's grace period); nothing
		// else reads the key.
		_, keysSet := f.env["CONNECTORS_TOKEN_CACHE_KEY_VERSIONS"]
		keysSet = keysSet || slices.Contains(f.unknownEnv, "CONNECTORS_TOKEN_CACHE_KEY_VERSIONS")
		if mints := slices.Contains(minting, name); keysSet != mints {
			fail("%s: CONNECTORS_TOKEN_CACHE_KEY_VERSIONS set: %v, want %v (only the minting functions read the token-cache key)", name, keysSet, mints)
		}
		if name == console {
			// Only its project: no backend, no identity configuration, and
			// no CONNECTORS_FUNCTION_BASE_URL (the admin functions are on
			// its own origin, behind the same load balancer).
			want := map[string]string{"GOOGLE_CLOUD_PROJECT": v.Project, "GOGC": f.env["GOGC"], "GOMEMLIMIT": f.env["GOMEMLIMIT"]}
			if !maps.Equal(f.env, want) || len(f.unknownEnv) > 0 {
				fail("%s: environment %v (unknown: %v), want exactly %v", name, f.env, f.unknownEnv, want)
			}
			if f.ingress != "ALLOW_INTERNAL_AND_GCLB" {
				fail("%s: ingress %q, want ALLOW_INTERNAL_AND_GCLB (through the load balancer only)", name, f.ingress)
			}
			continue
		}
		iapAudience, iapSet := f.env["CONNECTORS_IAP_AUDIENCES"]
		iapUnknown := slices.Contains(f.unknownEnv, "CONNECTORS_IAP_AUDIENCES")
		switch {
		case v.ConsoleDomain == "" || !slices.Contains(adminFunctions, name):
			if iapSet || iapUnknown {
				fail("%s: CONNECTORS_IAP_AUDIENCES is set, but the function is not behind IAP", name)
			}
		case iapUnknown:
			// Its backend service's ID is assigned on creation.
		case !iapSet:
			fail("%s: behind IAP without CONNECTORS_IAP_AUDIENCES", name)
		case !regexp.MustCompile(`^/projects/` + regexp.QuoteMeta(v.ProjectNumber) + `/global/backendServices/[0-9]+$`).MatchString(iapAudience):
			fail("%s: CONNECTORS_IAP_AUDIENCES=%q is not /projects/%s/global/backendServices/ID", name, iapAudience, v.ProjectNumber)
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
	iapAccess := map[string][]string{} // backend service -> members
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
		for _, m := range g.members {
			if owner[strings.TrimPrefix(m, "serviceAccount:")] == console && !secretRole(g.role, custom) {
				fail("%s: the console's service account gets %s; it must have no role", g.addr, g.role)
			}
		}
		if g.scope == "iap" {
			iapAccess[g.target] = append(iapAccess[g.target], g.members...)
			if g.role != "roles/iap.httpsResourceAccessor" {
				fail("%s: %s on backend service %s, want only roles/iap.httpsResourceAccessor", g.addr, g.role, g.target)
			}
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
				if fn == console {
					fail("%s: the console's service account gets %s; it must have no role", g.addr, g.role)
				}
				if g.role == "roles/owner" || g.role == "roles/editor" {
					fail("%s: function %s gets %s", g.addr, fn, g.role)
				}
			}
		}
	}
	for _, name := range got {
		if name == console {
			continue
		}
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
	iapAgent := "serviceAccount:service-" + v.ProjectNumber + "@gcp-sa-iap.iam.gserviceaccount.com"
	for _, name := range got {
		want := setOf(v.Admins)
		switch {
		case slices.Contains(agentFunctions, name):
			want = setOf(v.Agents, bound)
		case name == console && v.ConsoleDomain == "":
			want = []string{}
		case name == console:
			want = []string{iapAgent}
		case name == maintenanceFunction:
			want = []string{"serviceAccount:" + schedulerAccount(p)}
		case v.ConsoleDomain != "":
			want = setOf(v.Admins, []string{iapAgent})
		}
		if have := setOf(invokers[name]); !slices.Equal(have, want) {
			fail("%s: invokers %v, want exactly %v", name, have, want)
		}
	}

	// The console's load balancer: the console and the admin functions,
	// each through a serverless NEG and a backend service with IAP on that
	// lets exactly the admins through; never token or files.
	var routed []string
	for neg, service := range lb.negs {
		routed = append(routed, service)
		if !lb.backends[neg] {
			if _, ok := lb.backends[neg]; !ok {
				fail("NEG %s (%s) has no backend service of its name", neg, service)
			}
		}
		if slices.Contains(agentFunctions, service) {
			fail("%s is behind the load balancer (NEG %s); only the console and the admin functions may be", service, neg)
		}
	}
	sort.Strings(routed)
	wantRouted := []string{}
	if v.ConsoleDomain != "" {
		wantRouted = setOf(adminFunctions, []string{console})
	}
	if have := setOf(routed); !slices.Equal(have, wantRouted) {
		fail("the load balancer routes to %v, want %v", have, wantRouted)
	}
	for backend, iap := range lb.backends {
		if !iap {
			fail("backend service %s: IAP is not enabled", backend)
		}
		if _, ok := lb.negs[backend]; !ok {
			fail("backend service %s has no NEG of its name", backend)
		}
		if have, want := setOf(iapAccess[backend]), setOf(v.Admins); !slices.Equal(have, want) {
			fail("backend service %s: roles/iap.httpsResourceAccessor for %v, want exactly %v", backend, have, want)
		}
	}
	for backend := range iapAccess {
		if _, ok := lb.backends[backend]; !ok {
			fail("IAP grants on %s, which is no backend service here", backend)
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
		// Deferred: makePlan may end the test (skip, or fatal), and the
		// next test must not wait on the lock for ever.
		b = func() []byte {
			madePlan.Lock()
			defer madePlan.Unlock()
			if madePlan.json == nil {
				madePlan.json = makePlan(t)
			}
			return madePlan.json
		}()
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
	w := newWorkspace(t, " and "+PlanEnv+" is unset")
	terraform := func(args ...string) []byte {
		cmd := w.command(args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	terraform("validate", "-no-color")
	terraform(w.planArgs()...)
	return terraform("show", "-json", "plan.tfplan")
}

// workspace is a copy of terraform/ without its GCS backend, next to the
// staged sources, planned with testdata/ci.tfvars against the locally
// built provider with a fake access token.
type workspace struct {
	tf, dir, stage, vars string
	env                  []string
}

// newWorkspace stages the functions and copies terraform/; without
// terraform or the provider it calls missing, adding unset to the reason.
func newWorkspace(t *testing.T, unset string) workspace {
	t.Helper()
	tf, err := exec.LookPath("terraform")
	if err != nil {
		missing(t, "terraform is not on PATH%s", unset)
	}
	providerDir := os.Getenv(ProviderDirEnv)
	if providerDir == "" {
		home, _ := os.UserHomeDir()
		providerDir = filepath.Join(home, ".cache", "connectors", "terraform-provider-google", providerVersion)
	}
	if _, err := os.Stat(filepath.Join(providerDir, "terraform-provider-google")); err != nil {
		missing(t, "no provider in %s (build it: GOBIN=%s go install %s@%s)%s", providerDir, providerDir, providerModule, providerVersion, unset)
	}
	root := repoRoot(t)
	work := t.TempDir()
	w := workspace{tf: tf, dir: filepath.Join(work, "tf"), stage: filepath.Join(work, "stage")}
	stage := exec.Command("go", "run", "./scripts/stage", "-out", w.stage)
	stage.Dir = root
	if b, err := stage.CombinedOutput(); err != nil {
		t.Fatalf("stage: %v\n%s", err, b)
	}
	if err := os.Mkdir(w.dir, 0o755); err != nil {
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
		if err := os.WriteFile(filepath.Join(w.dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cli := filepath.Join(work, "cli.tfrc")
	conf := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"hashicorp/google\" = %q\n  }\n  direct {}\n}\n", providerDir)
	if err := os.WriteFile(cli, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cli, "GOOGLE_OAUTH_ACCESS_TOKEN=fake", "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	if w.vars, err = filepath.Abs(filepath.Join("testdata", "ci.tfvars")); err != nil {
		t.Fatal(err)
	}
	return w
}

// command is terraform with args, run in the workspace.
func (w workspace) command(args ...string) *exec.Cmd {
	cmd := exec.Command(w.tf, append([]string{"-chdir=" + w.dir}, args...)...)
	cmd.Env = w.env
	return cmd
}

// planArgs plans into plan.tfplan with testdata/ci.tfvars and extra.
func (w workspace) planArgs(extra ...string) []string {
	return append([]string{"plan", "-input=false", "-lock=false", "-no-color", "-var-file=" + w.vars, "-var=source_dir=" + w.stage, "-out=plan.tfplan"}, extra...)
}

// breachCase breaks a copy of the real plan in one way; the check must then
// report a problem mentioning want.
type breachCase struct {
	name   string
	breach func(p *plan)
	want   string
}

// expectReported runs each case on its own copy of the plan good.
func expectReported(t *testing.T, good *plan, check func(*plan) []string, cases []breachCase) {
	t.Helper()
	raw, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p plan
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			c.breach(&p)
			problems := check(&p)
			if !slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("breach not reported (want a problem mentioning %q); got %q", c.want, problems)
			}
		})
	}
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
	v, err := good.vars()
	if err != nil {
		t.Fatal(err)
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
	cases := []breachCase{
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
		{"token behind the load balancer", func(p *plan) {
			add(p, "google_compute_region_network_endpoint_group", map[string]any{"name": "token", "cloud_run": []any{map[string]any{"service": "token"}}})
			add(p, "google_compute_backend_service", map[string]any{"name": "token", "iap": []any{map[string]any{"enabled": true}}})
		}, "token is behind the load balancer"},
		{"IAP off", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_compute_backend_service" {
					block(p.ResourceChanges[i].Change.After, "iap")["enabled"] = false
				}
			}
		}, "IAP is not enabled"},
		{"extra IAP accessor", func(p *plan) {
			add(p, "google_iap_web_backend_service_iam_member", map[string]any{"web_backend_service": "connectors-console", "role": "roles/iap.httpsResourceAccessor", "member": "user:eve@example.com"})
		}, "httpsResourceAccessor"},
		{"console gets a role", func(p *plan) {
			add(p, "google_project_iam_member", map[string]any{"role": "roles/datastore.viewer", "member": saOf(p, console)})
		}, "must have no role"},
		{"console told another origin", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == console {
					block(p.ResourceChanges[i].Change.After, "service_config")["environment_variables"] = map[string]any{"GOOGLE_CLOUD_PROJECT": v.Project, "CONNECTORS_FUNCTION_BASE_URL": "https://elsewhere.example.com"}
				}
			}
		}, "console: environment"},
		{"admin function without an IAP audience", func(p *plan) {
			o := p.OutputChanges["function_environment"]
			var after map[string]map[string]any
			var unknown map[string]map[string]any
			if err := json.Unmarshal(o.After, &after); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(o.AfterUnknown, &unknown)
			delete(after["connectors-get"], "CONNECTORS_IAP_AUDIENCES")
			delete(unknown["connectors-get"], "CONNECTORS_IAP_AUDIENCES")
			o.After, _ = json.Marshal(after)
			o.AfterUnknown, _ = json.Marshal(unknown)
			p.OutputChanges["function_environment"] = o
		}, "connectors-get: behind IAP without CONNECTORS_IAP_AUDIENCES"},
		{"token on Go's default collector", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "token" {
					if env, ok := block(p.ResourceChanges[i].Change.After, "service_config")["environment_variables"].(map[string]any); ok {
						delete(env, "GOGC")
					}
				}
			}
			// Unknown on the resource (the key versions are): the output.
			o := p.OutputChanges["function_environment"]
			var after map[string]map[string]any
			if err := json.Unmarshal(o.After, &after); err != nil {
				t.Fatal(err)
			}
			delete(after["token"], "GOGC")
			o.After, _ = json.Marshal(after)
			p.OutputChanges["function_environment"] = o
		}, `token: GOGC ""`},
		{"proxy timeout shorter than its calls", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "proxy" {
					block(p.ResourceChanges[i].Change.After, "service_config")["timeout_seconds"] = 60.0
				}
			}
		}, "proxy: platform timeout 1m0s"},
		{"proxy invoked by an admin", func(p *plan) {
			add(p, "google_cloud_run_v2_service_iam_member", map[string]any{"name": "proxy", "role": "roles/run.invoker", "member": "user:admin@example.com"})
		}, "proxy: invokers"},
		{"files timeout shorter than its reads", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "files" {
					block(p.ResourceChanges[i].Change.After, "service_config")["timeout_seconds"] = 60.0
				}
			}
		}, "files: platform timeout 1m0s"},
		{"mcp timeout shorter than its API calls", func(p *plan) {
			for i, rc := range p.ResourceChanges {
				if rc.Type == "google_cloudfunctions2_function" && str(rc.Change.After, "name") == "mcp" {
					block(p.ResourceChanges[i].Change.After, "service_config")["timeout_seconds"] = 60.0
				}
			}
		}, "mcp: platform timeout 1m0s"},
	}
	expectReported(t, good, checkPlan, cases)
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

// TestPlanPassesFilesDefaultAccess: files_default_access reaches the files
// function, and only it, as a CONNECTORS_FILES_DEFAULT_ACCESS the function
// accepts at start; so does the signed-URL cap.
func TestPlanPassesFilesDefaultAccess(t *testing.T) {
	p := loadPlan(t)
	fns, _, _, _, _, _ := p.scan()
	var access map[string][]string
	if err := json.Unmarshal(p.Variables["files_default_access"].Value, &access); err != nil || len(access) == 0 {
		t.Fatalf("testdata/ci.tfvars should map an agent in files_default_access: %v %v", access, err)
	}
	env := fns["files"].env
	got, err := files.ParseDefaultAccess(env["CONNECTORS_FILES_DEFAULT_ACCESS"])
	if err != nil {
		t.Fatalf("files: CONNECTORS_FILES_DEFAULT_ACCESS %q: %v", env["CONNECTORS_FILES_DEFAULT_ACCESS"], err)
	}
	for agent, locs := range access {
		if len(got[agent]) != len(locs) {
			t.Errorf("files: agent %s has %v, want %v", agent, got[agent], locs)
		}
	}
	if len(got) != len(access) {
		t.Errorf("files: CONNECTORS_FILES_DEFAULT_ACCESS maps %d agents, want %d", len(got), len(access))
	}
	if d, err := time.ParseDuration(env["CONNECTORS_FILES_MAX_SIGNED_EXPIRY"]); err != nil || d != time.Hour {
		t.Errorf("files: CONNECTORS_FILES_MAX_SIGNED_EXPIRY %q, want the default 3600s", env["CONNECTORS_FILES_MAX_SIGNED_EXPIRY"])
	}
	for name, f := range fns {
		if _, ok := f.env["CONNECTORS_FILES_DEFAULT_ACCESS"]; ok && name != "files" {
			t.Errorf("%s gets CONNECTORS_FILES_DEFAULT_ACCESS", name)
		}
	}
}

// TestPlanMCP: the mcp function gets settings it accepts at start (its
// result cap from mcp_max_result_bytes, the signed-URL cap files has), a
// whole-call bound for call_api under its platform timeout, and no role
// on storage: its file tools always use a connector's credentials.
func TestPlanMCP(t *testing.T) {
	p := loadPlan(t)
	fns, _, _, grants, _, _ := p.scan()
	f, ok := fns["mcp"]
	if !ok {
		t.Fatal("no mcp function in the plan")
	}
	opts, err := mcp.OptionsFromEnv(func(k string) string { return f.env[k] })
	if err != nil || opts.MaxResultBytes != 262144 {
		t.Errorf("mcp: settings %+v %v, want CONNECTORS_MCP_MAX_RESULT_BYTES 262144", opts, err)
	}
	if _, err := proxy.LimitsFromEnv(func(k string) string { return f.env[k] }); err != nil {
		t.Errorf("mcp: proxy settings: %v", err)
	}
	if _, err := files.OptionsFromEnv(func(k string) string { return f.env[k] }); err != nil {
		t.Errorf("mcp: files settings: %v", err)
	}
	if d, err := time.ParseDuration(f.env["CONNECTORS_FILES_MAX_SIGNED_EXPIRY"]); err != nil || d != time.Hour {
		t.Errorf("mcp: CONNECTORS_FILES_MAX_SIGNED_EXPIRY %q, want the files function's 3600s", f.env["CONNECTORS_FILES_MAX_SIGNED_EXPIRY"])
	}
	for _, g := range grants {
		if slices.Contains(g.members, "serviceAccount:"+f.serviceAccount) && strings.Contains(g.role, "storage") {
			t.Errorf("mcp's service account holds %s (%s)", g.role, g.addr)
		}
	}
}
