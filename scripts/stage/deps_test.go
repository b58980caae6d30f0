package main

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs go list with args from the repository root.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestFunctionsLinkOnlyWhatTheyUse: a deployed function's binary holds the
// packages it imports, whatever it calls. The console serves a page and
// reads nothing, so it links no cloud SDK; and the HTTP edge knows errors by kind
// (shared/errkind), so importing it links no domain package.
func TestFunctionsLinkOnlyWhatTheyUse(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string
	}{
		{"./functions/console", []string{"github.com/aws/aws-sdk-go-v2", "cloud.google.com/go/storage", "cloud.google.com/go/firestore", "cloud.google.com/go/secretmanager"}},
		// The connect flow exchanges a code with one oauth.Client request:
		// no minting service, no provider SDK.
		{"./functions/connect", []string{"github.com/aws/aws-sdk-go-v2", "cloud.google.com/go/storage", "connectors.dev/connectors/shared/mint/cloudtest"}},
		// functions/connectors: TestLinksNoMinting there, with the path.
	} {
		for _, dep := range goList(t, "-deps", c.pkg) {
			for _, f := range c.forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", c.pkg, dep)
				}
			}
		}
	}
	for _, imp := range goList(t, "-f", `{{join .Imports "\n"}}`, "./shared/httpx") {
		if strings.HasPrefix(imp, "connectors.dev/") && imp != "connectors.dev/connectors/shared/errkind" && imp != "connectors.dev/connectors/shared/config" {
			t.Errorf("shared/httpx imports %s; it may import only leaf packages (errkind, config)", imp)
		}
	}
}
