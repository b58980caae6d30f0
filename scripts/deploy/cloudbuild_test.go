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
		if len(refs) == 0 && s.Entrypoint != "" && !strings.Contains(text, "/workspace/.tools") {
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
