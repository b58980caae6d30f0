// Command transfer exports every connector of a deployment (or of the
// local run's data directory), secrets included, into one file encrypted
// to age keys the operator supplies, and imports such a file into another
// (shared/transfer; docs/operations.md).
//
//	go run ./scripts/transfer keygen > key.txt        # an X25519 identity; its recipient goes to stderr
//	go run ./scripts/transfer export -recipient age1… [-recipient …] [-armor] BACKEND > connectors.age
//	go run ./scripts/transfer import -identity key.txt [-replace] BACKEND < connectors.age
//
// BACKEND is either -project P [-database D] [-collection-prefix X]
// [-secret-prefix Y] (Firestore and Secret Manager, with your application
// default credentials: datastore.user and the connector secrets' access),
// or -data-dir DIR (the local run's embedded store; stop the local run
// first, it holds the file).
//
// Import creates each connector through the catalog's validation; one that
// exists is skipped unless -replace. It prints one line per connector
// (created, replaced, skipped, failed: why) and exits 1 if any failed.
// Nothing it prints holds a secret. It records no events: subscribers learn
// of imported connectors from the export's operator, not the topic.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/secret/localfile"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/transfer"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// repeated is a flag given any number of times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

const usage = "usage: transfer keygen | export -recipient age1… [-armor] BACKEND | import -identity FILE [-replace] BACKEND\n" +
	"BACKEND: -project P [-database D] [-collection-prefix X] [-secret-prefix Y] | -data-dir DIR\n"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var recipients repeated
	fs.Var(&recipients, "recipient", "export: an age recipient (age1…) to encrypt to; repeatable")
	recipientsFile := fs.String("recipients-file", "", "export: a file of age recipients, one per line")
	armored := fs.Bool("armor", false, "export: ASCII-armored output")
	identity := fs.String("identity", "", "import: the age identity file (AGE-SECRET-KEY-1…)")
	replace := fs.Bool("replace", false, "import: overwrite connectors that exist")
	project := fs.String("project", "", "the Google Cloud project of Firestore and Secret Manager")
	database := fs.String("database", "", "the Firestore database (default: (default))")
	collectionPrefix := fs.String("collection-prefix", "", "CONNECTORS_COLLECTION_PREFIX of the deployment")
	secretPrefix := fs.String("secret-prefix", config.DefaultSecretPrefix, "CONNECTORS_SECRET_PREFIX of the deployment")
	dataDir := fs.String("data-dir", "", "the local run's data directory (CONNECTORS_DATA_DIR)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "transfer:", err)
		return 1
	}
	if cmd == "keygen" {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "# recipient: %s\n%s\n", id.Recipient(), id)
		fmt.Fprintf(stderr, "recipient: %s\n", id.Recipient())
		return 0
	}
	if cmd != "export" && cmd != "import" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cat, closeAll, err := open(ctx, *project, *database, *collectionPrefix, *secretPrefix, *dataDir)
	if err != nil {
		return fail(err)
	}
	defer closeAll()

	if cmd == "export" {
		rs, err := parseRecipients(recipients, *recipientsFile)
		if err != nil {
			return fail(err)
		}
		out := stdout
		var aw io.WriteCloser
		if *armored {
			aw = armor.NewWriter(stdout)
			out = aw
		}
		n, err := transfer.Export(ctx, cat, out, rs...)
		if err == nil && aw != nil {
			err = aw.Close()
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "exported %d connectors\n", n)
		return 0
	}

	if *identity == "" {
		return fail(errors.New("import: -identity is required (the age identity file the export was encrypted to)"))
	}
	f, err := os.Open(*identity)
	if err != nil {
		return fail(fmt.Errorf("import: -identity: %w", err))
	}
	ids, err := age.ParseIdentities(f)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("import: -identity %s: %w", *identity, err))
	}
	in := bufio.NewReader(stdin)
	var src io.Reader = in
	if head, _ := in.Peek(len(armor.Header)); bytes.Equal(head, []byte(armor.Header)) {
		src = armor.NewReader(in)
	}
	doc, err := transfer.Decrypt(src, ids...)
	if err != nil {
		return fail(err)
	}
	code := 0
	for _, o := range transfer.Import(ctx, cat, doc, transfer.Options{Replace: *replace, Principal: "transfer-import"}) {
		switch {
		case o.Err != nil:
			code = 1
			fmt.Fprintf(stderr, "failed   %s: %v\n", o.Name, o.Err)
		case o.Action == "skipped":
			fmt.Fprintf(stderr, "skipped  %s (it exists; -replace overwrites it)\n", o.Name)
		default:
			fmt.Fprintf(stderr, "%-8s %s\n", o.Action, o.Name)
		}
	}
	return code
}

func parseRecipients(given []string, file string) ([]age.Recipient, error) {
	text := strings.Join(given, "\n")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("export: -recipients-file: %w", err)
		}
		text += "\n" + string(b)
	}
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("export: give -recipient age1… (or -recipients-file): the key the file is encrypted to")
	}
	rs, err := age.ParseRecipients(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("export: -recipient: %w", err)
	}
	return rs, nil
}

// open connects the catalog to the backend the flags name.
func open(ctx context.Context, project, database, collectionPrefix, secretPrefix, dataDir string) (*catalog.Catalog, func(), error) {
	switch {
	case (project == "") == (dataDir == ""):
		return nil, nil, errors.New("give exactly one of -project (a deployment) and -data-dir (the local run)")
	case dataDir != "":
		store, err := boltstore.Open(filepath.Join(dataDir, "connectors.db"))
		if err != nil {
			return nil, nil, err
		}
		secrets, err := localfile.Open(dataDir)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		cat := &catalog.Catalog{Store: store, Secrets: secrets, Options: connector.Options{AllowInsecureURLs: true}}
		return cat, func() { secrets.Close(); store.Close() }, nil
	}
	var store *firestore.Store
	var err error
	if database != "" {
		store, err = firestore.NewInDatabase(ctx, project, database)
	} else {
		store, err = firestore.New(ctx, project)
	}
	if err != nil {
		return nil, nil, err
	}
	store.CollectionPrefix = collectionPrefix
	secrets, err := secretmanager.New(ctx, project)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	secrets.Prefix = secretPrefix
	cat := &catalog.Catalog{Store: store, Secrets: secrets}
	return cat, func() { secrets.Close(); store.Close() }, nil
}
