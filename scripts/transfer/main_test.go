package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/secret/localfile"
)

const secretValue = "cli-secret-5be0a7d2"

func ptr[T any](v T) *T { return &v }

// seedDir creates one connector in the local run's data directory dir.
func seedDir(t *testing.T, dir string) {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(dir, "connectors.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secrets, err := localfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer secrets.Close()
	cat := &catalog.Catalog{Store: store, Secrets: secrets}
	if _, err := cat.Create(context.Background(), &connector.Input{Name: ptr("Svc"), URL: ptr("https://auth.example.com/token"),
		GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(secretValue)}, "t"); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, bytes.NewReader(stdin), &out, &errOut)
	if strings.Contains(out.String()+errOut.String(), secretValue) && args[0] != "import" {
		t.Fatalf("%s printed a secret", args[0])
	}
	return code, out.String(), errOut.String()
}

// TestCommandExportImport: keygen, an armored export of the local run's
// data directory, an import into another that creates, a second that
// skips, one with -replace that replaces; what it prints and the file it
// writes hold no secret; a changed file is refused with exit 1.
func TestCommandExportImport(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	seedDir(t, src)
	code, key, _ := runCLI(t, nil, "keygen")
	if code != 0 {
		t.Fatal("keygen failed")
	}
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	recipient := strings.TrimPrefix(strings.SplitN(key, "\n", 2)[0], "# recipient: ")
	code, file, stderr := runCLI(t, nil, "export", "-recipient", recipient, "-armor", "-data-dir", src)
	if code != 0 || !strings.HasPrefix(file, "-----BEGIN AGE ENCRYPTED FILE-----") || !strings.Contains(stderr, "exported 1 connectors") {
		t.Fatalf("export: %d %q", code, stderr)
	}
	if strings.Contains(file, secretValue) || strings.Contains(file, "Svc") {
		t.Fatal("the export shows plaintext")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "-identity", keyFile, "-data-dir", dst}, "created  Svc"},
		{[]string{"import", "-identity", keyFile, "-data-dir", dst}, "skipped  Svc"},
		{[]string{"import", "-identity", keyFile, "-replace", "-data-dir", dst}, "replaced Svc"},
	} {
		code, out, stderr := runCLI(t, []byte(file), c.args...)
		if code != 0 || !strings.Contains(stderr, c.want) {
			t.Fatalf("%v: %d %q, want %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(out+stderr, secretValue) {
			t.Fatal("import printed a secret")
		}
	}
	tampered := strings.Replace(file, "\n", "\nA", 2)
	code, _, stderr = runCLI(t, []byte(tampered), "import", "-identity", keyFile, "-data-dir", dst)
	if code != 1 || !strings.Contains(stderr, "cannot be decrypted") {
		t.Fatalf("tampered: %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "export", "-data-dir", src); code != 1 || !strings.Contains(stderr, "-recipient") {
		t.Fatalf("no recipient: %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "export", "-recipient", recipient); code != 1 || !strings.Contains(stderr, "-project") {
		t.Fatalf("no backend: %d %q", code, stderr)
	}
}
