// Package transfer exports connectors, their secrets included, into one
// file encrypted to keys the operator supplies, and imports such a file:
// for moving connectors between projects or deployments, and for restores.
//
// The file is an age file (https://age-encryption.org/v1, filippo.io/age)
// encrypted to one or more recipients (X25519 "age1…" public keys, or any
// recipient type age parses), around a versioned JSON document (File).
// Everything is inside the encryption, metadata too: nothing of a
// connector, let alone a secret, is readable without an identity, and
// age's authenticated encryption makes a changed, truncated or extended
// file fail to decrypt, so a tampered file is refused whole before any
// connector is touched.
//
// Import goes through the catalog like an admin's request: Create, with
// every validation rule; an existing connector is left alone unless
// Replace is asked, and is then updated with every write-only value given
// again (the rebind rule is met by construction: the secrets travel with
// the endpoints they were exported with).
package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"filippo.io/age"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/secret"
)

// The document's format and version; Import refuses any other.
const (
	Format  = "connectors-export"
	Version = 1
)

// maxPlaintext bounds what Import reads from a decrypted file.
const maxPlaintext = 256 << 20

// File is the decrypted document.
type File struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	ExportedAt time.Time `json:"exportedAt"`
	Connectors []Entry   `json:"connectors"`
}

// Entry is one connector: its wire form (docs/api.md), which names no
// secret store internals, and its write-only values.
type Entry struct {
	Connector connector.Connector `json:"connector"`
	Secrets   Secrets             `json:"secrets"`
}

// Secrets are a connector's write-only values.
type Secrets struct {
	ClientSecret string `json:"clientSecret,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	Password     string `json:"password,omitempty"`
}

// Errors of Import, each naming what is wrong.
var (
	ErrUnreadable = errkind.New(errkind.InvalidArgument, "transfer: the file cannot be decrypted", "file", "is not an export for these identities, or was altered")
	ErrFormat     = errkind.New(errkind.InvalidArgument, "transfer: not a connectors export", "file", "is not a connectors export of a known version")
)

// readAttempts bounds the re-reads of a connector whose secret version was
// replaced between reading it and its secrets.
const readAttempts = 5

// Export writes every connector of cat, with its secrets, to w, encrypted
// to recipients, and returns how many it wrote.
func Export(ctx context.Context, cat *catalog.Catalog, w io.Writer, recipients ...age.Recipient) (int, error) {
	if len(recipients) == 0 {
		return 0, errors.New("transfer: export: no recipient (a key to encrypt to)")
	}
	doc := File{Format: Format, Version: Version, ExportedAt: time.Now().UTC(), Connectors: []Entry{}}
	opts := connector.ListOptions{PageSize: connector.MaxPageSize}
	for {
		page, err := cat.List(ctx, opts)
		if err != nil {
			return 0, fmt.Errorf("transfer: export: list: %w", err)
		}
		for _, c := range page.Connectors {
			e, err := entry(ctx, cat, c)
			if errors.Is(err, connector.ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return 0, err
			}
			doc.Connectors = append(doc.Connectors, e)
		}
		if page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("transfer: export: encode: %w", err)
	}
	defer clear(plain)
	enc, err := age.Encrypt(w, recipients...)
	if err != nil {
		return 0, fmt.Errorf("transfer: export: encrypt: %w", err)
	}
	if _, err := enc.Write(plain); err != nil {
		return 0, fmt.Errorf("transfer: export: write: %w", err)
	}
	if err := enc.Close(); err != nil {
		return 0, fmt.Errorf("transfer: export: write: %w", err)
	}
	return len(doc.Connectors), nil
}

// entry reads c's secrets; a version replaced meanwhile means c is stale,
// and it is read again.
func entry(ctx context.Context, cat *catalog.Catalog, c *connector.Connector) (Entry, error) {
	for attempt := 1; ; attempt++ {
		b, err := cat.Bundle(ctx, c)
		if err == nil {
			return Entry{Connector: *c, Secrets: Secrets{ClientSecret: b.ClientSecret, RefreshToken: b.RefreshToken, Password: b.Password}}, nil
		}
		if !errors.Is(err, secret.ErrNotFound) || attempt == readAttempts {
			return Entry{}, fmt.Errorf("transfer: export %s: %w", c.Name, err)
		}
		fresh, err := cat.Get(ctx, c.Name)
		if err != nil {
			return Entry{}, fmt.Errorf("transfer: export %s: %w", c.Name, err)
		}
		c = fresh
	}
}

// Decrypt opens an export with identities and parses it, refusing an
// altered file or an unknown format.
func Decrypt(r io.Reader, identities ...age.Identity) (*File, error) {
	dec, err := age.Decrypt(r, identities...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	plain, err := io.ReadAll(io.LimitReader(dec, maxPlaintext+1))
	defer clear(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if len(plain) > maxPlaintext {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, maxPlaintext)
	}
	dj := json.NewDecoder(bytes.NewReader(plain))
	dj.DisallowUnknownFields()
	var doc File
	if err := dj.Decode(&doc); err != nil {
		// The JSON error may quote a value, which may be a secret.
		return nil, fmt.Errorf("%w: the document does not parse", ErrFormat)
	}
	if doc.Format != Format || doc.Version != Version {
		return nil, fmt.Errorf("%w: format %q version %d, want %q version %d", ErrFormat, doc.Format, doc.Version, Format, Version)
	}
	return &doc, nil
}

// Options of Import.
type Options struct {
	// Replace updates connectors that exist; otherwise they are skipped.
	Replace bool
	// Principal is recorded as the connectors' creator or updater.
	Principal string
}

// Outcome of one connector's import.
type Outcome struct {
	Name   string
	Action string // "created", "replaced", "skipped" (exists), "failed"
	Err    error
}

// Import creates (or with Replace, updates) each connector of doc through
// cat, and reports each one's outcome; a connector that fails does not
// stop the others.
func Import(ctx context.Context, cat *catalog.Catalog, doc *File, opts Options) []Outcome {
	out := make([]Outcome, 0, len(doc.Connectors))
	for _, e := range doc.Connectors {
		o := Outcome{Name: e.Connector.Name}
		in, err := Input(e)
		if err == nil {
			_, err = cat.Create(ctx, in, opts.Principal)
			o.Action = "created"
			if errors.Is(err, connector.ErrExists) {
				o.Action = "skipped"
				if opts.Replace {
					o.Action = "replaced"
					_, err = cat.Update(ctx, e.Connector.Name, "", in, opts.Principal)
				} else {
					err = nil
				}
			}
		}
		if err != nil {
			o.Action, o.Err = "failed", err
		}
		out = append(out, o)
	}
	return out
}

// Input is e as a complete admin input: the connector's wire JSON read as
// an Input (so every writable field, present and future, is carried and
// the read-only ones are not), every field the export leaves out given as
// empty, so that a replaced connector ends as exported, and the write-only
// values given or cleared.
func Input(e Entry) (*connector.Input, error) {
	raw, err := json.Marshal(e.Connector)
	if err != nil {
		return nil, fmt.Errorf("transfer: %s: %w", e.Connector.Name, err)
	}
	var in connector.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("transfer: %s: %w", e.Connector.Name, err)
	}
	in.ClientSecret, in.RefreshToken, in.Password = &e.Secrets.ClientSecret, &e.Secrets.RefreshToken, &e.Secrets.Password
	v := reflect.ValueOf(&in).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch v.Type().Field(i).Name {
		case "Preset", "PresetParams":
			continue // create-only helpers, not connector fields
		}
		if f.Kind() == reflect.Pointer && f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
	}
	return &in, nil
}
