// Command stage writes the deployable source of every function group: one
// source tree per group, zipped, plus a manifest that Terraform reads.
//
//	go run ./scripts/stage [-out DIR] [-groups connectors,token,files]
//
// The Cloud Functions Go buildpack builds only the root package of the
// uploaded module: it generates a main.go that blank-imports the module path
// and, because that root package imports
// github.com/GoogleCloudPlatform/functions-framework-go/functions, uses the
// declarative template that serves the functions.HTTP registration named by
// the function's entry point. So each group's tree holds go.mod and go.sum,
// the module's packages that `go list -deps` reports for the group (their
// non-test Go files and embedded files, at their import paths), and a
// generated root file that blank-imports the group's package.
//
// DIR (default .stage at the module root) receives, per group, the tree
// DIR/<group>/ and its archive DIR/<group>.zip, and DIR/manifest.json:
//
//	{"module": "connectors.dev/connectors",
//	 "groups": {"token": {"package": "...", "functions": ["token"],
//	            "zip": "token.zip", "sha256": "...", "object": "token-<sha256>.zip"}}}
//
// The output is deterministic (sorted entries, fixed timestamps and modes),
// so a group's archive, and the object name Terraform derives from its hash,
// change only when a file that group is built from changes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	out := flag.String("out", "", "output directory (default .stage at the module root)")
	groups := flag.String("groups", strings.Join(DefaultGroups, ","), "comma-separated function groups to stage (packages under functions/)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "stage: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	m, err := Stage(".", *out, strings.Split(*groups, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "stage:", err)
		os.Exit(1)
	}
	for _, name := range m.GroupNames() {
		g := m.Groups[name]
		fmt.Printf("%s\t%s\t%s\n", name, g.Object, strings.Join(g.Functions, ","))
	}
}
