package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type cloudBuild struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Steps         []buildStep       `yaml:"steps"`
}

type buildStep struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Entrypoint string   `yaml:"entrypoint"`
	Args       []string `yaml:"args"`
	Dir        string   `yaml:"dir"`
	Script     string   `yaml:"script"`
	WaitFor    []string `yaml:"waitFor"`
	Volumes    []struct {
		Name string `yaml:"name"`
		Path string `yaml:"path"`
	} `yaml:"volumes"`
}

func (s buildStep) text() string {
	return strings.Join(append([]string{s.Entrypoint, s.Script}, s.Args...), "\n")
}

var (
	// repoPathRe finds references to the repository's files in a step.
	repoPathRe = regexp.MustCompile(`(?:^|[\s=;&|"'(])(?:\./)?((?:\.ci|scripts|terraform|functions|shared)(?:/[A-Za-z0-9_.-]+)*)`)
	// userSubstRe finds user substitutions ($_X or ${_X}).
	userSubstRe = regexp.MustCompile(`\$\{?(_[A-Z0-9_]+)`)
	// chdirRe finds terraform -chdir=DIR.
	chdirRe = regexp.MustCompile(`-chdir=([^\s"']+)`)
)

func loadCloudBuild(t *testing.T) cloudBuild {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cb cloudBuild
	if err := yaml.Unmarshal(b, &cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	if len(cb.Steps) == 0 {
		t.Fatal("cloudbuild.yaml has no steps")
	}
	return cb
}

func TestCloudBuildStepsUseFilesThatExist(t *testing.T) {
	root := repoRoot(t)
	cb := loadCloudBuild(t)
	seen := map[string]bool{}
	for i, s := range cb.Steps {
		if s.ID == "" || s.Name == "" {
			t.Errorf("step %d: needs an id and an image name", i)
		}
		if seen[s.ID] {
			t.Errorf("step id %s used twice", s.ID)
		}
		for _, w := range s.WaitFor {
			if w != "-" && !seen[w] {
				t.Errorf("step %s waits for %q, which is not an earlier step", s.ID, w)
			}
		}
		seen[s.ID] = true

		text := s.text()
		for _, m := range userSubstRe.FindAllStringSubmatch(text+"\n"+s.Name, -1) {
			if _, ok := cb.Substitutions[m[1]]; !ok {
				t.Errorf("step %s uses substitution %s, which is not declared", s.ID, m[1])
			}
		}
		dir := filepath.Join(root, s.Dir)
		var refs []string
		for _, m := range repoPathRe.FindAllStringSubmatch(text, -1) {
			refs = append(refs, m[1])
		}
		for _, m := range chdirRe.FindAllStringSubmatch(text, -1) {
			refs = append(refs, m[1])
		}
		// Steps that only copy tools to a volume or call gcloud need no file.
		if len(refs) == 0 && s.Entrypoint != "" && len(s.Volumes) == 0 && !strings.Contains(text, "gcloud ") {
			t.Errorf("step %s refers to nothing in the repository", s.ID)
		}
		for _, ref := range refs {
			if strings.Contains(ref, "$") {
				continue // resolved by Cloud Build
			}
			if _, err := os.Stat(filepath.Join(dir, ref)); err != nil {
				t.Errorf("step %s refers to %s, which does not exist in the repository", s.ID, ref)
			}
		}
	}
}

func TestCloudBuildTestsStagesAndApplies(t *testing.T) {
	root := repoRoot(t)
	cb := loadCloudBuild(t)
	find := func(pred func(buildStep) bool) *buildStep {
		for i := range cb.Steps {
			if pred(cb.Steps[i]) {
				return &cb.Steps[i]
			}
		}
		return nil
	}
	index := func(s *buildStep) int {
		for i := range cb.Steps {
			if &cb.Steps[i] == s {
				return i
			}
		}
		return -1
	}
	test := find(func(s buildStep) bool { return strings.Contains(s.text(), ".ci/run") })
	stage := find(func(s buildStep) bool { return slices.Contains(s.Args, "./scripts/stage") })
	initStep := find(func(s buildStep) bool {
		return strings.Contains(s.text(), " init") || slices.Contains(s.Args, "init")
	})
	apply := find(func(s buildStep) bool { return slices.Contains(s.Args, "apply") })
	if test == nil || stage == nil || initStep == nil || apply == nil {
		t.Fatalf("want steps running .ci/run, scripts/stage, terraform init and terraform apply; got %+v", cb.Steps)
	}
	if !(index(test) < index(stage) && index(stage) < index(initStep) && index(initStep) < index(apply)) {
		t.Error("steps must run test, stage, init, apply in that order")
	}
	if !strings.Contains(initStep.text(), "-backend-config=bucket=${_TF_STATE_BUCKET}") {
		t.Error("terraform init does not take the state bucket from _TF_STATE_BUCKET")
	}
	if _, ok := cb.Substitutions["_TF_STATE_BUCKET"]; !ok {
		t.Error("_TF_STATE_BUCKET is not declared")
	}
	backend, err := os.ReadFile(filepath.Join(root, "terraform", "backend.tf"))
	if err != nil || !strings.Contains(string(backend), `backend "gcs"`) {
		t.Errorf("terraform/backend.tf must declare the gcs backend that init configures (%v)", err)
	}

	// The apply reads what the stage step wrote.
	out := ""
	for i, a := range stage.Args {
		if a == "-out" && i+1 < len(stage.Args) {
			out = stage.Args[i+1]
		}
	}
	if out == "" || !slices.Contains(apply.Args, "-var=source_dir=../"+out) {
		t.Errorf("stage writes to %q but apply reads %v", out, apply.Args)
	}
	// The variables file is relative to terraform/ (-chdir); an example
	// to copy it from is there.
	if v := cb.Substitutions["_TF_VARS_FILE"]; v == "" {
		t.Error("_TF_VARS_FILE has no default")
	} else if _, err := os.Stat(filepath.Join(root, "terraform", v+".example")); err != nil {
		t.Errorf("terraform/%s.example is missing: %v", v, err)
	}
	for _, want := range []string{"-var=project=$PROJECT_ID", "-var=project_number=$PROJECT_NUMBER"} {
		if !slices.Contains(apply.Args, want) {
			t.Errorf("apply does not pass %s", want)
		}
	}
}

// substitute resolves the build's user substitutions in s ($_X, ${_X}).
func (cb cloudBuild) substitute(s string) string {
	return substRe.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := cb.Substitutions[name]; ok {
			return v
		}
		return m
	})
}

// substRe is one whole user substitution, braces included.
var substRe = regexp.MustCompile(`\$\{_[A-Z0-9_]+\}|\$_[A-Z0-9_]+`)

// fullTagRe is an image tag that names one release: x.y.z, with an
// optional variant suffix (528.0.0-emulators).
var fullTagRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9_.-]+)?$`)

// checkImage says why an image reference does not pin a published
// release, or "" when it does: a sha256 digest, or a full x.y.z tag
// (registries such as Docker Hub's hashicorp/terraform push no x.y tags,
// so "1.11" does not exist; "latest" or no tag moves).
func checkImage(image string) string {
	if strings.Contains(image, "$") {
		return "an unresolved substitution"
	}
	if i := strings.Index(image, "@"); i >= 0 {
		if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(image[i+1:]) {
			return "a malformed digest"
		}
		return ""
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon < slash || colon < 0 {
		return "no tag (it would be latest)"
	}
	if tag := image[colon+1:]; !fullTagRe.MatchString(tag) {
		return "tag " + tag + " is not a full x.y.z version"
	}
	return ""
}

func TestCloudBuildImagesNameFullVersions(t *testing.T) {
	for image, ok := range map[string]bool{
		"hashicorp/terraform:1.11":   false,
		"hashicorp/terraform:1.11.4": true,
		"hashicorp/terraform":        false,
		"golang:1.26":                false,
		"golang:latest":              false,
		// A moving tag, refused like latest.
		"gcr.io/google.com/cloudsdktool/cloud-sdk:emulators":                                 false,
		"gcr.io/google.com/cloudsdktool/cloud-sdk:528.0.0-emulators":                         true,
		"localhost:5000/terraform":                                                           false,
		"hashicorp/terraform@sha256:" + strings.Repeat("ab", 32):                             true,
		"hashicorp/terraform:1.11@sha256:" + strings.Repeat("ab", 32):                        true,
		"gcr.io/google.com/cloudsdktool/cloud-sdk:528.0.0@sha256:" + strings.Repeat("0", 63): false,
	} {
		if got := checkImage(image) == ""; got != ok {
			t.Errorf("checkImage(%q) = %q, want accepted=%v", image, checkImage(image), ok)
		}
	}
	cb := loadCloudBuild(t)
	for _, s := range cb.Steps {
		image := cb.substitute(s.Name)
		if why := checkImage(image); why != "" {
			t.Errorf("step %s: image %s: %s", s.ID, image, why)
		}
	}
}

// TestCloudBuildKeepsToolsOutsideTheSource: the Go toolchain the build
// copies for the test step must not land in /workspace (the repository),
// where gofmt, go vet ./... and scripts/stage would walk it.
func TestCloudBuildKeepsToolsOutsideTheSource(t *testing.T) {
	cb := loadCloudBuild(t)
	copiesGo := false
	for _, s := range cb.Steps {
		text := s.text()
		if strings.Contains(text, "/usr/local/go") {
			copiesGo = true
			if len(s.Volumes) == 0 {
				t.Errorf("step %s copies the Go toolchain but mounts no volume for it", s.ID)
			}
			for _, v := range s.Volumes {
				if v.Path == "/workspace" || strings.HasPrefix(v.Path, "/workspace/") {
					t.Errorf("step %s: volume %s is inside the source tree", s.ID, v.Path)
				}
			}
		}
		for _, bad := range []string{"/workspace/.", "./.tools", "$$PWD/.tools"} {
			if strings.Contains(text, bad) {
				t.Errorf("step %s puts tools inside the source tree (%s)", s.ID, bad)
			}
		}
	}
	if !copiesGo {
		t.Error("no step provides Go to the test step")
	}
}

// TestCloudBuildBootstrapsBeforeTerraform: the APIs the provider needs to
// read and enable services are on, and IAP's service agent exists, before
// terraform runs.
func TestCloudBuildBootstrapsBeforeTerraform(t *testing.T) {
	cb := loadCloudBuild(t)
	before := func(id string) map[string]bool {
		// Every step id is reached through waitFor (or order, without it).
		deps := map[string]bool{}
		var visit func(string)
		byID := map[string]int{}
		for i, s := range cb.Steps {
			byID[s.ID] = i
		}
		visit = func(id string) {
			i, ok := byID[id]
			if !ok {
				return
			}
			s := cb.Steps[i]
			waits := s.WaitFor
			if len(waits) == 0 {
				for _, p := range cb.Steps[:i] {
					waits = append(waits, p.ID)
				}
			}
			for _, w := range waits {
				if w != "-" && !deps[w] {
					deps[w] = true
					visit(w)
				}
			}
		}
		visit(id)
		return deps
	}
	var enable, iapAgent, initID string
	for _, s := range cb.Steps {
		text := s.text()
		if strings.Contains(text, "gcloud services enable") &&
			strings.Contains(text, "cloudresourcemanager.googleapis.com") && strings.Contains(text, "serviceusage.googleapis.com") {
			enable = s.ID
		}
		if strings.Contains(text, "services identity create --service=iap.googleapis.com") {
			iapAgent = s.ID
		}
		if strings.Contains(text, " init") || slices.Contains(s.Args, "init") {
			initID = s.ID
		}
	}
	if enable == "" || iapAgent == "" || initID == "" {
		t.Fatalf("want a step enabling Cloud Resource Manager and Service Usage (%q), one creating IAP's service agent (%q), and terraform init (%q)", enable, iapAgent, initID)
	}
	deps := before(initID)
	if !deps[enable] || !deps[iapAgent] {
		t.Errorf("terraform init runs after %v, want it after %s and %s", deps, enable, iapAgent)
	}
}

// TestCIRunChecksTrackedGoFilesAndInstallsACompiler: gofmt sees only the
// repository's own Go files (not a toolchain copied into the tree), and
// -race gets the C compiler it needs on an image without one.
func TestCIRunChecksTrackedGoFilesAndInstallsACompiler(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	run := string(b)
	if regexp.MustCompile(`gofmt -l \.(\s|$|\))`).MatchString(run) {
		t.Error(".ci/run runs gofmt -l . (it walks every directory, a copied Go toolchain included)")
	}
	if !regexp.MustCompile(`git ls-files[^\n]*'\*\.go'`).MatchString(run) {
		t.Error(".ci/run does not list the Go files to check with git ls-files '*.go'")
	}
	if !strings.Contains(run, "command -v cc") || !regexp.MustCompile(`(apt-get install|apt_install)[^\n]*\bgcc\b`).MatchString(run) {
		t.Error(".ci/run does not install gcc when cc is missing (go test -race needs cgo)")
	}
	if !strings.Contains(run, "CGO_ENABLED=1") {
		t.Error(".ci/run does not force cgo on for the race detector")
	}
}
