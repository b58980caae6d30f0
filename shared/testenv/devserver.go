package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildDevserver builds functions/devserver (without the race detector:
// tests that start it measure or drive it as a separate process) into a
// temporary directory and returns the binary's path; any failure fails t.
func BuildDevserver(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the local run: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "devserver")
	if out, err := exec.Command(goTool, "build", "-o", bin, "connectors.dev/connectors/functions/devserver").CombinedOutput(); err != nil {
		t.Fatalf("build the local run: %v\n%s", err, out)
	}
	return bin
}
