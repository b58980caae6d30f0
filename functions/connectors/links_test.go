package connectors_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	self      = "connectors.dev/connectors/functions/connectors"
	mintPkg   = "connectors.dev/connectors/shared/mint"
	awsPrefix = "github.com/aws/aws-sdk-go-v2"
)

// TestLinksNoMinting: connectors-create, -list, -get, -update and -delete
// never mint, so their deployed group links neither the minting service
// nor a provider SDK (the AWS SDK above all): connectors-test, which
// mints, is functions/probe. The walk is over the package graph of the
// deployed platform, as go list -deps reports it.
func TestLinksNoMinting(t *testing.T) {
	graph := importGraph(t)
	if _, ok := graph[self]; !ok {
		t.Fatalf("go list -deps did not report %s", self)
	}
	// Breadth-first from this package, keeping each package's first
	// importer so that a failure names the whole path.
	from := map[string]string{self: ""}
	queue := []string{self}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, dep := range graph[p] {
			if _, seen := from[dep]; seen {
				continue
			}
			from[dep] = p
			queue = append(queue, dep)
		}
	}
	var bad []string
	for dep := range from {
		if dep == mintPkg || strings.HasPrefix(dep, awsPrefix) {
			bad = append(bad, dep)
		}
	}
	// The shortest path to each is named, mint's first; a few say enough.
	slices.SortFunc(bad, func(a, b string) int {
		if (a == mintPkg) != (b == mintPkg) {
			return map[bool]int{true: -1, false: 1}[a == mintPkg]
		}
		return strings.Compare(a, b)
	})
	for i, dep := range bad {
		if i == 3 {
			t.Errorf("… and %d more such packages", len(bad)-i)
			break
		}
		path := []string{dep}
		for p := from[dep]; p != ""; p = from[p] {
			path = append(path, p)
		}
		slices.Reverse(path)
		t.Errorf("%s links %s, want neither %s nor any %s package: %s", self, dep, mintPkg, awsPrefix, strings.Join(path, " -> "))
	}
}

// importGraph is each package's imports, for the deployment's platform.
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=ImportPath,Imports", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, stderr.String())
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		graph[p.ImportPath] = p.Imports
	}
	return graph
}
