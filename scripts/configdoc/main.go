// Command configdoc writes docs/configuration.md from the one declaration
// of the settings (shared/config.Settings). Run it from the repository
// root after adding or changing a setting:
//
//	go run ./scripts/configdoc
//
// shared/config's tests fail while the file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"connectors.dev/connectors/shared/config"
)

func main() {
	out := flag.String("out", "docs/configuration.md", "file to write; - for standard output")
	flag.Parse()
	doc := config.Markdown()
	if *out == "-" {
		fmt.Print(doc)
		return
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}
