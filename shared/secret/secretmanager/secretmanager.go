// Package secretmanager implements secret.Store on Google Secret Manager
// through the official client (cloud.google.com/go/secretmanager/apiv1).
//
// Each connector secret is one Secret Manager secret named
// projects/P/secrets/<Prefix><id> with automatic replication, and each Put is
// one new secret version whose number is the version string callers see.
// Payloads travel with a CRC32C in both directions, and Get refuses data
// whose checksum is missing or wrong, so corruption surfaces as
// secret.ErrCorrupt instead of as a plausible but wrong credential.
//
// Errors wrap the client's error, so status.FromError / status.Code still
// reach the gRPC status, and never include secret data.
package secretmanager

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"sort"
	"strconv"
	"strings"

	sm "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/secret"
)

// DefaultPrefix is prepended to every secret id unless Store.Prefix is
// changed; it keeps connector secrets apart from the project's others.
const DefaultPrefix = "connector-"

// ManagedByLabel and ManagedByValue mark every secret this package creates,
// so that an operator can tell them from hand-made ones.
const (
	ManagedByLabel = "managed-by"
	ManagedByValue = "connectors"
)

// secretIDRe is Secret Manager's rule for a secret id (prefix included).
var secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Store is a secret.Store backed by Secret Manager. It is safe for
// concurrent use.
type Store struct {
	// Prefix is prepended to ids to form secret names. Set it, if at all,
	// right after New and before any other call; it must itself consist of
	// letters, digits, '_' and '-'.
	Prefix string

	client  *sm.Client
	project string
}

var _ secret.Store = (*Store)(nil)

// New connects to Secret Manager for project. opts go to sm.NewClient
// unchanged: credentials in production; an endpoint, no authentication and
// insecure transport for an emulator.
func New(ctx context.Context, project string, opts ...option.ClientOption) (*Store, error) {
	if project == "" || strings.Contains(project, "/") {
		return nil, fmt.Errorf("secretmanager: invalid project %q", project)
	}
	c, err := sm.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secretmanager: new client: %w", err)
	}
	return &Store{Prefix: DefaultPrefix, client: c, project: project}, nil
}

// Close releases the client's connection.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("secretmanager: close: %w", err)
	}
	return nil
}

func (s *Store) secretName(id string) (string, error) {
	if id == "" || !secretIDRe.MatchString(s.Prefix+id) {
		return "", fmt.Errorf("secretmanager: invalid secret id %q (want letters, digits, '_' or '-', at most %d characters)", id, 255-len(s.Prefix))
	}
	return "projects/" + s.project + "/secrets/" + s.Prefix + id, nil
}

// versionNumber accepts only decimal version numbers: "latest" and other
// aliases must not slip through as a version a caller recorded, and nothing
// else can be spliced into a resource name.
func versionNumber(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == v
}

// Put implements secret.Store. The common case (the secret exists) costs one
// RPC; a first Put creates the secret and retries the add.
func (s *Store) Put(ctx context.Context, id string, labels map[string]string, b secret.Bundle) (string, error) {
	name, err := s.secretName(id)
	if err != nil {
		return "", err
	}
	data := b.Marshal()
	defer clear(data)

	v, err := s.addVersion(ctx, name, data)
	if status.Code(err) == codes.NotFound {
		if err := s.create(ctx, id, labels); err != nil {
			return "", err
		}
		v, err = s.addVersion(ctx, name, data)
	}
	if err != nil {
		return "", fmt.Errorf("secretmanager: add version to %s: %w", id, err)
	}
	return lastSegment(v.GetName()), nil
}

func (s *Store) addVersion(ctx context.Context, name string, data []byte) (*secretmanagerpb.SecretVersion, error) {
	crc := int64(crc32.Checksum(data, crcTable))
	return s.client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent:  name,
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc},
	})
}

// create makes the secret; ALREADY_EXISTS means a concurrent Put won the
// race, which is just as good.
func (s *Store) create(ctx context.Context, id string, labels map[string]string) error {
	all := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		all[k] = v
	}
	all[ManagedByLabel] = ManagedByValue
	_, err := s.client.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent:   "projects/" + s.project,
		SecretId: s.Prefix + id,
		Secret: &secretmanagerpb.Secret{
			Replication: &secretmanagerpb.Replication{
				Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
			},
			Labels: all,
		},
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("secretmanager: create secret %s: %w", id, err)
	}
	return nil
}

// Get implements secret.Store. A destroyed or disabled version answers
// FAILED_PRECONDITION, which is reported as secret.ErrNotFound; the original
// error stays wrapped alongside it.
func (s *Store) Get(ctx context.Context, id, version string) (secret.Bundle, error) {
	name, err := s.secretName(id)
	if err != nil {
		return secret.Bundle{}, err
	}
	switch {
	case version == "":
		version = "latest"
	case !versionNumber(version):
		return secret.Bundle{}, fmt.Errorf("secretmanager: get %s version %q: %w", id, version, secret.ErrNotFound)
	}
	data, err := s.access(ctx, name+"/versions/"+version)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("secretmanager: get %s version %s: %w", id, version, err)
	}
	defer clear(data)
	b, err := secret.UnmarshalBundle(data)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("secretmanager: get %s version %s: %w", id, version, err)
	}
	return b, nil
}

// DestroyVersion implements secret.Store.
func (s *Store) DestroyVersion(ctx context.Context, id, version string) error {
	name, err := s.secretName(id)
	if err != nil {
		return err
	}
	if !versionNumber(version) {
		return nil // no such version can exist
	}
	return s.destroy(ctx, id, name+"/versions/"+version)
}

func (s *Store) destroy(ctx context.Context, id, versionName string) error {
	_, err := s.client.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: versionName})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	case codes.FailedPrecondition:
		// Usually "already destroyed", but the service uses the same code
		// for other refusals; only the former is success.
		v, gerr := s.client.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: versionName})
		if gerr == nil && v.GetState() == secretmanagerpb.SecretVersion_DESTROYED {
			return nil
		}
	}
	return fmt.Errorf("secretmanager: destroy %s version %s: %w", id, lastSegment(versionName), err)
}

// Prune implements secret.Store: it destroys the versions older than keep.
// If keep is not a live version it destroys nothing and returns
// secret.ErrNotFound: pruning around a version that is not there could
// leave the secret with no readable version at all.
func (s *Store) Prune(ctx context.Context, id, keep string) error {
	name, err := s.secretName(id)
	if err != nil {
		return err
	}
	it := s.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{
		Parent: name,
		Filter: "NOT state:DESTROYED",
	})
	var doomed []string
	found := false
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("secretmanager: prune %s: %w (%w)", id, secret.ErrNotFound, err)
			}
			return fmt.Errorf("secretmanager: prune %s: list versions: %w", id, err)
		}
		switch {
		case v.GetState() == secretmanagerpb.SecretVersion_DESTROYED:
			// The filter should have dropped it; skip in case it did not.
		case lastSegment(v.GetName()) == keep:
			found = true
		case secret.Older(lastSegment(v.GetName()), keep):
			doomed = append(doomed, v.GetName())
		}
	}
	if !found {
		return fmt.Errorf("secretmanager: prune %s: keep version %q: %w", id, keep, secret.ErrNotFound)
	}
	for _, vn := range doomed {
		if err := s.destroy(ctx, id, vn); err != nil {
			return fmt.Errorf("secretmanager: prune: %w", err)
		}
	}
	return nil
}

// Delete implements secret.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	name, err := s.secretName(id)
	if err != nil {
		return err
	}
	err = s.client.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: name})
	if err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("secretmanager: delete %s: %w", id, err)
	}
	return nil
}

// IDs implements secret.Store. The server-side filter "name:PREFIX" is a
// substring match, so the prefix is checked again here; with an empty
// prefix the managed-by label selects this package's secrets instead.
func (s *Store) IDs(ctx context.Context) ([]string, error) {
	filter := "labels." + ManagedByLabel + "=" + ManagedByValue
	if s.Prefix != "" {
		filter = "name:" + s.Prefix
	}
	it := s.client.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{
		Parent: "projects/" + s.project,
		Filter: filter,
	})
	var ids []string
	for {
		m, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("secretmanager: list secrets: %w", err)
		}
		if id, ok := strings.CutPrefix(lastSegment(m.GetName()), s.Prefix); ok && id != "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// lastSegment returns what follows the last '/'. Names are parsed this way
// because the real service answers with the project number where the
// request used the project id.
func lastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
