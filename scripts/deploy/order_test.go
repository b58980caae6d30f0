package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// providerMajor is the major release providerVersion belongs to: its
// CHANGELOG.md opens with "## 8.0.0" (the commit is from after the 8.0
// merge). versions.tf must admit it, so that a real `terraform init`
// installs the major CI planned with.
const providerMajor = 8

// configuration is the planned configuration's part the order checks read.
type configuration struct {
	ProviderConfig map[string]struct {
		VersionConstraint string `json:"version_constraint"`
	} `json:"provider_config"`
	RootModule struct {
		Resources []configResource `json:"resources"`
	} `json:"root_module"`
}

type configResource struct {
	Address      string          `json:"address"`
	Type         string          `json:"type"`
	Expressions  json.RawMessage `json:"expressions"`
	DependsOn    []string        `json:"depends_on"`
	Provisioners []struct {
		Type        string          `json:"type"`
		Expressions json.RawMessage `json:"expressions"`
	} `json:"provisioners"`
	ForEach json.RawMessage `json:"for_each_expression"`
	Count   json.RawMessage `json:"count_expression"`
}

// references collects every "references" entry below an expression tree.
func references(raw json.RawMessage) []string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "references" {
					out = append(out, strs(e)...)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// resourceRef turns a reference ("google_x.y.id", "google_x.y["k"]",
// "data.d.e", "var.v") into the resource address it names, or "".
func resourceRef(ref string) string {
	if i := strings.Index(ref, "["); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, ".")
	switch {
	case len(parts) < 2:
		return ""
	case parts[0] == "data" && len(parts) >= 3:
		return strings.Join(parts[:3], ".")
	case slices.Contains([]string{"var", "local", "each", "count", "path", "module", "self", "terraform"}, parts[0]):
		return ""
	}
	return parts[0] + "." + parts[1]
}

// order is the configuration's dependency graph between resources:
// depends_on and references, direct (not through locals, which the plan
// does not show; hence the explicit depends_on in terraform/).
type order struct {
	direct map[string][]string
	res    map[string]configResource
}

func newOrder(c configuration) order {
	o := order{direct: map[string][]string{}, res: map[string]configResource{}}
	for _, r := range c.RootModule.Resources {
		o.res[r.Address] = r
		deps := append([]string{}, r.DependsOn...)
		for _, raw := range []json.RawMessage{r.Expressions, r.ForEach, r.Count} {
			for _, ref := range references(raw) {
				if a := resourceRef(ref); a != "" && a != r.Address {
					deps = append(deps, a)
				}
			}
		}
		o.direct[r.Address] = setOf(deps)
	}
	return o
}

// after returns everything addr waits for, transitively.
func (o order) after(addr string) map[string]bool {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(a string) {
		for _, d := range o.direct[a] {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(addr)
	return seen
}

// waits are the propagation waits: resources with a local-exec provisioner
// (terraform_data running sleep).
func (o order) waits() []string {
	var out []string
	for a, r := range o.res {
		if slices.ContainsFunc(r.Provisioners, func(p struct {
			Type        string          `json:"type"`
			Expressions json.RawMessage `json:"expressions"`
		}) bool {
			return p.Type == "local-exec"
		}) {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// waitAfter returns a wait that addr comes after and that itself comes
// after something matched by pred, or "".
func (o order) waitAfter(addr string, pred func(string) bool) string {
	before := o.after(addr)
	for _, w := range o.waits() {
		if !before[w] {
			continue
		}
		for d := range o.after(w) {
			if pred(d) {
				return w
			}
		}
	}
	return ""
}

func prefixed(prefix string) func(string) bool {
	return func(a string) bool { return strings.HasPrefix(a, prefix) }
}

// checkOrder returns every resource that may run before what it needs.
func checkOrder(p *plan) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	o := newOrder(p.Configuration)
	if len(o.res) == 0 {
		return []string{"the plan shows no configuration"}
	}
	if _, ok := o.res["google_project_service.apis"]; !ok {
		fail("no google_project_service.apis: the APIs are not enabled by this configuration")
	}
	// Each wait sleeps for a positive number of seconds from a variable.
	for _, w := range o.waits() {
		for _, prov := range o.res[w].Provisioners {
			for _, ref := range references(prov.Expressions) {
				if name, ok := strings.CutPrefix(ref, "var."); ok {
					raw, ok := p.Variables[name]
					n, err := strconv.ParseFloat(strings.TrimSpace(string(raw.Value)), 64)
					if !ok || err != nil || n <= 0 {
						fail("%s: waits var.%s = %s seconds, want more than 0", w, name, raw.Value)
					}
				}
			}
		}
	}
	var addrs []string
	for a := range o.res {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		r := o.res[a]
		// Every Google resource calls an API that this configuration
		// enables: it must wait for the enablement to propagate.
		if strings.HasPrefix(r.Type, "google_") && r.Type != "google_project_service" {
			if o.waitAfter(a, func(d string) bool { return d == "google_project_service.apis" }) == "" {
				fail("%s is not ordered after the APIs and their propagation wait (depends_on a wait that depends on google_project_service.apis)", a)
			}
		}
		// Builds read the staged source and push images through grants
		// made in the same apply: wait for IAM to propagate.
		if r.Type == "google_cloudfunctions2_function" {
			if o.waitAfter(a, func(d string) bool { return d == "google_project_iam_member.builder" }) == "" {
				fail("%s is not ordered after an IAM propagation wait following the builder's grants", a)
			}
			if o.waitAfter(a, prefixed("google_storage_bucket_iam_member.")) == "" {
				fail("%s is not ordered after an IAM propagation wait following the builder's bucket grant", a)
			}
			if !slices.ContainsFunc(o.direct[a], prefixed("google_artifact_registry_repository.")) {
				fail("%s builds into no Artifact Registry repository of its own (docker_repository): the first builds race to create gcf-artifacts", a)
			}
		}
	}
	// IAP's service agent is granted roles/run.invoker after a wait.
	v, _ := p.vars()
	iapAgent := "serviceAccount:service-" + v.ProjectNumber + "@gcp-sa-iap.iam.gserviceaccount.com"
	iapBinding := false
	for _, rc := range p.ResourceChanges {
		if str(rc.Change.After, "member") != iapAgent {
			continue
		}
		iapBinding = true
		addr := rc.Address
		if i := strings.Index(addr, "["); i >= 0 {
			addr = addr[:i]
		}
		if o.waitAfter(addr, prefixed("google_project_iam_member.")) == "" {
			fail("%s grants IAP's service agent without waiting for IAM propagation", rc.Address)
		}
	}
	if v.ConsoleDomain != "" && !iapBinding {
		fail("console_domain is set but IAP's service agent is granted nothing")
	}
	return problems
}

func TestTerraformOrdersResourcesAfterAPIsAndPropagation(t *testing.T) {
	for _, problem := range checkOrder(loadPlan(t)) {
		t.Error(problem)
	}
}

// TestOrderChecksCatchBreaches drops the orderings from the real plan.
func TestOrderChecksCatchBreaches(t *testing.T) {
	good := loadPlan(t)
	edit := func(p *plan, addr string, f func(r *configResource)) {
		for i := range p.Configuration.RootModule.Resources {
			if p.Configuration.RootModule.Resources[i].Address == addr {
				f(&p.Configuration.RootModule.Resources[i])
				return
			}
		}
		t.Fatalf("no %s in the configuration", addr)
	}
	cases := []breachCase{
		{"custom role without the APIs", func(p *plan) {
			edit(p, "google_project_iam_custom_role.secret", func(r *configResource) { r.DependsOn = nil })
		}, "google_project_iam_custom_role.secret is not ordered after the APIs"},
		{"APIs without a wait", func(p *plan) {
			edit(p, "google_service_account.builder", func(r *configResource) { r.DependsOn = []string{"google_project_service.apis"} })
		}, "google_service_account.builder is not ordered after the APIs"},
		{"functions straight after the grants", func(p *plan) {
			edit(p, "google_cloudfunctions2_function.function", func(r *configResource) {
				r.DependsOn = []string{"google_project_iam_member.builder", "google_storage_bucket_iam_member.builder_reads_sources"}
			})
		}, "google_cloudfunctions2_function.function is not ordered after an IAM propagation wait"},
		{"a wait of zero seconds", func(p *plan) {
			v := p.Variables["iam_propagation_seconds"]
			v.Value = json.RawMessage("0")
			p.Variables["iam_propagation_seconds"] = v
		}, "waits var.iam_propagation_seconds = 0"},
		{"IAP grant straight away", func(p *plan) {
			edit(p, "google_cloud_run_v2_service_iam_member.iap_invoker", func(r *configResource) {
				r.DependsOn = nil
				r.Expressions = json.RawMessage(`{"name":{"references":["var.project"]}}`)
			})
		}, "grants IAP's service agent without waiting"},
	}
	expectReported(t, good, checkOrder, cases)
}

// admits says whether a Terraform version constraint such as
// ">= 8.0.0, < 9.0.0" or "~> 8.0" admits version (x.y.z).
func admits(constraint string, version [3]int) (bool, error) {
	cmp := func(a, b [3]int) int { return slices.Compare(a[:], b[:]) }
	for _, part := range strings.Split(constraint, ",") {
		m := regexp.MustCompile(`^\s*(>=|<=|>|<|=|!=|~>)?\s*([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?\s*$`).FindStringSubmatch(part)
		if m == nil {
			return false, fmt.Errorf("cannot read constraint %q", part)
		}
		var v [3]int
		parts := 1
		for i, s := range m[2:5] {
			if s != "" {
				v[i], _ = strconv.Atoi(s)
				parts = i + 1
			}
		}
		c := cmp(version, v)
		ok := true
		switch m[1] {
		case ">=":
			ok = c >= 0
		case ">":
			ok = c > 0
		case "<=":
			ok = c <= 0
		case "<":
			ok = c < 0
		case "!=":
			ok = c != 0
		case "", "=":
			ok = c == 0
		case "~>":
			// The rightmost given part may grow: ~> 8.0 is >= 8.0, < 9.
			upper := v
			if parts <= 1 {
				return false, fmt.Errorf("~> needs at least two parts: %q", part)
			}
			upper[parts-2]++
			for i := parts - 1; i < 3; i++ {
				upper[i] = 0
			}
			ok = c >= 0 && cmp(version, upper) < 0
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func TestAdmits(t *testing.T) {
	for _, c := range []struct {
		constraint string
		version    [3]int
		want       bool
	}{
		{">= 6.30, < 8.0", [3]int{8, 0, 0}, false},
		{">= 6.30, < 8.0", [3]int{7, 40, 1}, true},
		{">= 8.0.0, < 9.0.0", [3]int{8, 3, 0}, true},
		{"~> 8.0", [3]int{8, 9, 9}, true},
		{"~> 8.0", [3]int{9, 0, 0}, false},
		{"~> 8.1.2", [3]int{8, 2, 0}, false},
	} {
		if got, err := admits(c.constraint, c.version); err != nil || got != c.want {
			t.Errorf("admits(%q, %v) = %v, %v; want %v", c.constraint, c.version, got, err, c.want)
		}
	}
}

// TestVersionsAdmitTheProviderCIPlansWith: the plan CI checks is made with
// a provider of major providerMajor; versions.tf must let a real init
// install that major (and no other, whose schema CI never saw).
func TestVersionsAdmitTheProviderCIPlansWith(t *testing.T) {
	// The major of the commit CI builds, from its own CHANGELOG when the
	// module is in the module cache (.ci/run put it there).
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	changelog := filepath.Join(strings.TrimSpace(string(out)), "github.com", "hashicorp", "terraform-provider-google@"+providerVersion, "CHANGELOG.md")
	if f, err := os.Open(changelog); err != nil {
		missing(t, "%s is not in the module cache (%v); .ci/run builds it", providerModule, err)
	} else {
		defer f.Close()
		sc := bufio.NewScanner(f)
		major := -1
		for sc.Scan() {
			if m := regexp.MustCompile(`^## ([0-9]+)\.[0-9]+\.[0-9]+`).FindStringSubmatch(sc.Text()); m != nil {
				major, _ = strconv.Atoi(m[1])
				break
			}
		}
		if major != providerMajor {
			t.Errorf("%s@%s is of major %d by its CHANGELOG.md, not providerMajor %d", providerModule, providerVersion, major, providerMajor)
		}
	}

	p := loadPlan(t)
	constraint := p.Configuration.ProviderConfig["google"].VersionConstraint
	if constraint == "" {
		t.Fatal("the plan shows no version constraint for the google provider")
	}
	for _, c := range []struct {
		version [3]int
		want    bool
	}{
		{[3]int{providerMajor, 0, 0}, true},
		{[3]int{providerMajor - 1, 99, 99}, false},
		{[3]int{providerMajor + 1, 0, 0}, false},
	} {
		got, err := admits(constraint, c.version)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("versions.tf's %q admits %d.%d.%d: %v, want %v (CI plans with major %d)", constraint, c.version[0], c.version[1], c.version[2], got, c.want, providerMajor)
		}
	}
}

// TestConsoleCertificateCanBeReplaced: create_before_destroy needs the
// replacement's name to differ from the old one's, so it is derived from
// the domain.
func TestConsoleCertificateCanBeReplaced(t *testing.T) {
	p := loadPlan(t)
	v, err := p.vars()
	if err != nil {
		t.Fatal(err)
	}
	if v.ConsoleDomain == "" {
		t.Fatal("testdata/ci.tfvars sets no console_domain")
	}
	o := newOrder(p.Configuration)
	r, ok := o.res["google_compute_managed_ssl_certificate.console"]
	if !ok {
		t.Fatal("no google_compute_managed_ssl_certificate.console")
	}
	var e map[string]json.RawMessage
	_ = json.Unmarshal(r.Expressions, &e)
	if !slices.Contains(references(e["name"]), "var.console_domain") {
		t.Errorf("the certificate's name does not follow console_domain (references %v): a new domain's certificate would collide with the old one's name (409)", references(e["name"]))
	}
	for _, rc := range p.ResourceChanges {
		if rc.Type == "google_compute_managed_ssl_certificate" && str(rc.Change.After, "name") == "connectors-console" {
			t.Errorf("%s has the fixed name connectors-console", rc.Address)
		}
	}
	tf, err := os.ReadFile(filepath.Join(repoRoot(t), "terraform", "console.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if !blockHas(string(tf), `resource "google_compute_managed_ssl_certificate" "console"`, "create_before_destroy = true") {
		t.Error("the managed certificate is not create_before_destroy")
	}
}

// TestTokenCacheKeyRotatesCreateBeforeDestroy: the plan of ci.tfvars is a
// rotation's grace period (version 2, the previous kept until a far
// date): both versions exist, created before any is destroyed, and the
// minting functions are told both.
func TestTokenCacheKeyRotatesCreateBeforeDestroy(t *testing.T) {
	p := loadPlan(t)
	var versions []string
	for _, rc := range p.ResourceChanges {
		if rc.Type == "google_secret_manager_secret_version" {
			versions = append(versions, rc.Address)
			if slices.Contains(rc.Change.Actions, "delete") {
				t.Errorf("%s: %v", rc.Address, rc.Change.Actions)
			}
		}
	}
	sort.Strings(versions)
	want := []string{`google_secret_manager_secret_version.token_cache_key["1"]`, `google_secret_manager_secret_version.token_cache_key["2"]`}
	if !slices.Equal(versions, want) {
		t.Errorf("key versions %v, want %v during the grace period of ci.tfvars", versions, want)
	}
	tf, err := os.ReadFile(filepath.Join(repoRoot(t), "terraform", "secrets.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if !blockHas(string(tf), `resource "google_secret_manager_secret_version" "token_cache_key"`, "create_before_destroy = true") {
		t.Error("the token-cache key version is not create_before_destroy: a rotation would destroy the old key before the new one exists")
	}
}

// blockHas says whether the brace-delimited block opened by header in src
// contains want.
func blockHas(src, header, want string) bool {
	i := strings.Index(src, header)
	if i < 0 {
		return false
	}
	depth := 0
	for j := i + len(header); j < len(src); j++ {
		switch src[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return strings.Contains(src[i:j], want)
			}
		}
	}
	return false
}
