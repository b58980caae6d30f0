package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is two levels up from this package.
const repoRoot = "../.."

// TestConfigurationDocIsCurrent: docs/configuration.md is what the
// declaration generates.
func TestConfigurationDocIsCurrent(t *testing.T) {
	got, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Markdown() {
		t.Fatal("docs/configuration.md is stale: run go run ./scripts/configdoc")
	}
}

// envName matches what a setting's name looks like in Go source: a quoted
// CONNECTORS_ name, or one of the others declared.
var envName = regexp.MustCompile(`"(CONNECTORS_[A-Z0-9_]+|GOOGLE_CLOUD_PROJECT|K_SERVICE|PORT|GOGC|GOMEMLIMIT)"`)

// TestEverySettingIsDeclared: every setting the functions and the local
// run name in their (non-test) code is declared once in Settings, and
// every declared one is named somewhere, so the table can neither miss a
// setting nor list a dead one.
func TestEverySettingIsDeclared(t *testing.T) {
	declared := map[string]bool{}
	for _, s := range Settings {
		if declared[s.Name] {
			t.Errorf("%s is declared twice", s.Name)
		}
		declared[s.Name] = true
		if s.Meaning == "" || s.ReadBy == "" {
			t.Errorf("%s: declare who reads it and what it means", s.Name)
		}
	}
	used := map[string][]string{}
	for _, dir := range []string{"shared", "functions"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envName.FindAllStringSubmatch(string(src), -1) {
				used[m[1]] = append(used[m[1]], path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, paths := range used {
		if !declared[name] {
			t.Errorf("%s is read in %v but not declared in Settings", name, slices.Compact(paths))
		}
	}
	for name := range declared {
		if _, ok := used[name]; !ok && name != "GOMEMLIMIT" { // read by the Go runtime itself
			t.Errorf("%s is declared but no code names it", name)
		}
	}
}
