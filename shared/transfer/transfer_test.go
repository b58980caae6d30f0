package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"filippo.io/age"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
	"connectors.dev/connectors/shared/transfer"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func ptr[T any](v T) *T { return &v }

const (
	clientSecret = "cs-transfer-9d2f1e7a"
	password     = "pw-transfer-41c0b8e3"
)

// env is a catalog on one backend, logging into logs.
type env struct {
	b    testenv.Backends
	cat  *catalog.Catalog
	logs *logtest.Buffer
}

func newEnv(t *testing.T, kind string) *env {
	t.Helper()
	return envOn(testenv.New(t, kind))
}

func envOn(b testenv.Backends) *env {
	logs := &logtest.Buffer{}
	return &env{b: b, logs: logs, cat: &catalog.Catalog{
		Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true},
		Log: slog.New(slog.NewJSONHandler(logs, nil)),
	}}
}

// mints mints name once at its token endpoint through a minting service on
// e's backends.
func (e *env) mints(t *testing.T, name string) {
	t.Helper()
	svc := mint.NewService(e.cat, e.b.Cache, mint.KeyCreatedOnFirstUse, config.Config{
		AllowInsecureURLs: true, TokenConnectTimeout: config.DefaultTokenConnectTimeout,
		TokenTimeout: config.DefaultTokenTimeout, DefaultTokenLifetime: config.DefaultDefaultTokenLifetime,
	})
	if _, err := svc.Test(context.Background(), name); err != nil {
		t.Fatalf("%s does not mint: %v", name, err)
	}
}

// provider is a real OAuth server knowing the connectors' client and user,
// with a refresh token issued to them.
type provider struct {
	*oauthtest.Fosite
	refresh string
}

func newProvider(t *testing.T) *provider {
	as := oauthtest.NewFosite(t)
	as.AddClient("cid", clientSecret, false, "read", "offline")
	as.AddUser("alice", password)
	return &provider{as, as.RefreshToken(t, "cid", "alice", "read")}
}

// seed creates one connector of each grant type holding a write-only
// value: client credentials, password, refresh token.
func seed(t *testing.T, e *env, p *provider) []string {
	t.Helper()
	ins := []*connector.Input{
		{Name: ptr("Svc"), URL: ptr(p.TokenURL()), GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret),
			Scope: ptr("read"), Agents: ptr([]string{"a1", "a2"}), ExtraParams: ptr(map[string]string{"tenant": "t-4711"}), APIBaseURL: ptr("https://api.example.com/v1")},
		{Name: ptr("Pw"), URL: ptr(p.TokenURL()), GrantType: ptr("password"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret),
			Username: ptr("alice"), Password: ptr(password), Scope: ptr("read")},
		{Name: ptr("Mail"), URL: ptr(p.TokenURL()), GrantType: ptr("refresh_token"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret),
			RefreshToken: ptr(p.refresh), Agents: ptr([]string{"a1"})},
		{Name: ptr("Off"), URL: ptr(p.TokenURL()), GrantType: ptr("client_credentials"), ClientID: ptr("cid"), ClientSecret: ptr(clientSecret), Active: ptr(false), HeaderAsPayload: ptr(true)},
	}
	var names []string
	for _, in := range ins {
		if _, err := e.cat.Create(context.Background(), in, "seeder"); err != nil {
			t.Fatal(err)
		}
		names = append(names, *in.Name)
	}
	return names
}

func key(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wire is a connector's readable fields, less what a new store assigns.
func wire(t *testing.T, c *connector.Connector) string {
	t.Helper()
	var m map[string]any
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"revision", "createdAt", "updatedAt", "createdBy", "updatedBy"} {
		delete(m, k)
	}
	if m["agents"] == nil {
		m["agents"] = []any{} // Firestore reads an empty list back as null
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// noSecretIn fails when text holds a write-only value.
func noSecretIn(t *testing.T, what, text string, p *provider) {
	t.Helper()
	for _, s := range []string{clientSecret, password, p.refresh} {
		if strings.Contains(text, s) {
			t.Fatalf("%s holds a write-only value", what)
		}
	}
}

// TestExportImportRoundTrip: connectors exported from one backend and
// imported into the other (each way) arrive with the same readable
// fields and write-only values: each mints at the real OAuth server. The
// file holds no secret, nor even a connector's name, in plaintext, and
// neither catalog logged a secret.
func TestExportImportRoundTrip(t *testing.T) {
	for _, kinds := range [][2]string{{testenv.Embedded, testenv.Emulated}, {testenv.Emulated, testenv.Embedded}} {
		t.Run(kinds[0]+"-to-"+kinds[1], func(t *testing.T) {
			ctx := context.Background()
			p := newProvider(t)
			src, dst := newEnv(t, kinds[0]), newEnv(t, kinds[1])
			names := seed(t, src, p)
			id := key(t)
			var file bytes.Buffer
			n, err := transfer.Export(ctx, src.cat, &file, id.Recipient())
			if err != nil || n != len(names) {
				t.Fatalf("export: %d, %v", n, err)
			}
			noSecretIn(t, "the export file", file.String(), p)
			for _, name := range []string{"Svc", "Mail", "t-4711", "alice"} {
				if strings.Contains(file.String(), name) {
					t.Fatalf("the export file shows %q in plaintext", name)
				}
			}
			doc, err := transfer.Decrypt(bytes.NewReader(file.Bytes()), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range transfer.Import(ctx, dst.cat, doc, transfer.Options{Principal: "importer"}) {
				if o.Action != "created" || o.Err != nil {
					t.Fatalf("import %s: %s %v", o.Name, o.Action, o.Err)
				}
			}
			for _, name := range names {
				a, _ := src.cat.Get(ctx, name)
				b, err := dst.cat.Get(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if wire(t, a) != wire(t, b) {
					t.Errorf("%s:\n exported %s\n imported %s", name, wire(t, a), wire(t, b))
				}
				if b.CreatedBy != "importer" {
					t.Errorf("%s: createdBy %q", name, b.CreatedBy)
				}
			}
			for _, name := range []string{"Svc", "Pw", "Mail"} {
				dst.mints(t, name)
			}
			noSecretIn(t, "the logs", src.logs.String()+dst.logs.String(), p)
		})
	}
}

// export returns an export of e's connectors to id.
func export(t *testing.T, e *env, id *age.X25519Identity) []byte {
	t.Helper()
	var file bytes.Buffer
	if _, err := transfer.Export(context.Background(), e.cat, &file, id.Recipient()); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// TestImportRefusesTamperedFile: a byte changed anywhere (header or
// payload), a truncated file, a file with bytes appended, or the wrong
// identity: the file is refused whole, nothing is imported, and the error
// holds no secret.
func TestImportRefusesTamperedFile(t *testing.T) {
	p := newProvider(t)
	src := newEnv(t, testenv.Embedded)
	seed(t, src, p)
	id := key(t)
	good := export(t, src, id)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	cases := map[string]struct {
		file []byte
		id   *age.X25519Identity
	}{
		"header byte":    {flip(40), id},
		"payload byte":   {flip(len(good) - 20), id},
		"last byte":      {flip(len(good) - 1), id},
		"truncated":      {good[:len(good)-10], id},
		"appended":       {append(bytes.Clone(good), 0), id},
		"wrong identity": {good, key(t)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			doc, err := transfer.Decrypt(bytes.NewReader(c.file), c.id)
			if !errors.Is(err, transfer.ErrUnreadable) || doc != nil {
				t.Fatalf("Decrypt: %v, %v; want ErrUnreadable", doc, err)
			}
			noSecretIn(t, "the error", err.Error(), p)
		})
	}
	if _, err := transfer.Decrypt(bytes.NewReader(good), id); err != nil {
		t.Fatalf("the untouched file: %v", err)
	}
}

// TestImportDoesNotOverwriteUnlessAsked: a connector that exists is
// skipped, unchanged, unless Replace is asked; replaced, it ends as
// exported (a field the export leaves empty is cleared) and mints with the
// exported secret.
func TestImportDoesNotOverwriteUnlessAsked(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t)
		src := newEnv(t, testenv.Embedded)
		seed(t, src, p)
		id := key(t)
		doc, err := transfer.Decrypt(bytes.NewReader(export(t, src, id)), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []*env{envOn(b)} {
			if _, err := d.cat.Create(ctx, &connector.Input{Name: ptr("Svc"), URL: ptr(p.TokenURL()), GrantType: ptr("client_credentials"),
				ClientID: ptr("cid"), ClientSecret: ptr("a-different-secret"), Scope: ptr("other"), Username: ptr("stays-or-goes")}, "local"); err != nil {
				t.Fatal(err)
			}
			before, _ := d.cat.Get(ctx, "Svc")
			got := map[string]string{}
			for _, o := range transfer.Import(ctx, d.cat, doc, transfer.Options{Principal: "importer"}) {
				got[o.Name] = o.Action
				if o.Err != nil {
					t.Fatalf("%s: %v", o.Name, o.Err)
				}
			}
			if got["Svc"] != "skipped" || got["Mail"] != "created" {
				t.Fatalf("outcomes %v", got)
			}
			after, _ := d.cat.Get(ctx, "Svc")
			if after.Revision != before.Revision || after.Scope != "other" {
				t.Fatalf("an existing connector was changed without Replace: %+v", after)
			}
			for _, o := range transfer.Import(ctx, d.cat, doc, transfer.Options{Replace: true, Principal: "importer"}) {
				if o.Err != nil || (o.Action != "replaced") {
					t.Fatalf("replace %s: %s %v", o.Name, o.Action, o.Err)
				}
			}
			exported, _ := src.cat.Get(ctx, "Svc")
			replaced, _ := d.cat.Get(ctx, "Svc")
			if wire(t, exported) != wire(t, replaced) || replaced.Username != "" {
				t.Fatalf("replaced:\n %s\nwant\n %s", wire(t, replaced), wire(t, exported))
			}
			d.mints(t, "Svc")
		}
	})
}

// TestImportValidatesEachConnector: an import is an admin's create: a
// connector the catalog refuses (an http token URL to a public host, a
// bad name) fails with the field named, and the others still arrive.
func TestImportValidatesEachConnector(t *testing.T) {
	ctx := context.Background()
	dst := newEnv(t, testenv.Embedded)
	dst.cat.Options.AllowInsecureURLs = false
	ok := connector.Connector{Name: "Good", URL: "https://auth.example.com/token", GrantType: "client_credentials", ClientID: "cid", ContentType: connector.ContentTypeForm, Active: true}
	badURL := ok
	badURL.Name, badURL.URL = "Plain", "http://auth.example.com/token"
	badName := ok
	badName.Name = "no spaces allowed"
	doc := &transfer.File{Format: transfer.Format, Version: transfer.Version, Connectors: []transfer.Entry{
		{Connector: badURL, Secrets: transfer.Secrets{ClientSecret: clientSecret}},
		{Connector: ok, Secrets: transfer.Secrets{ClientSecret: clientSecret}},
		{Connector: badName},
	}}
	out := transfer.Import(ctx, dst.cat, doc, transfer.Options{})
	if out[0].Action != "failed" || !strings.Contains(out[0].Err.Error(), "url") ||
		out[1].Action != "created" || out[2].Action != "failed" || !strings.Contains(out[2].Err.Error(), "name") {
		t.Fatalf("outcomes %+v", out)
	}
	for _, o := range out {
		if o.Err != nil && strings.Contains(o.Err.Error(), clientSecret) {
			t.Fatalf("error holds the secret: %v", o.Err)
		}
	}
}

// TestDecryptRefusesUnknownFormat: a file that decrypts but is not this
// format and version is refused, and its parse error quotes no value.
func TestDecryptRefusesUnknownFormat(t *testing.T) {
	id := key(t)
	for name, plain := range map[string]string{
		"other format":  `{"format":"x","version":1,"connectors":[]}`,
		"newer version": `{"format":"connectors-export","version":2,"connectors":[]}`,
		"unknown field": `{"format":"connectors-export","version":1,"connectors":[],"extra":"` + clientSecret + `"}`,
		"not json":      clientSecret,
	} {
		var file bytes.Buffer
		w, _ := age.Encrypt(&file, id.Recipient())
		_, _ = w.Write([]byte(plain))
		_ = w.Close()
		_, err := transfer.Decrypt(&file, id)
		if !errors.Is(err, transfer.ErrFormat) || strings.Contains(err.Error(), clientSecret) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
