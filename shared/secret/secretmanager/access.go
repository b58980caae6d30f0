package secretmanager

import (
	"context"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/secret"
)

// versionNameRe is a full secret version name.
var versionNameRe = regexp.MustCompile(`^projects/[A-Za-z0-9_.:-]+/secrets/[A-Za-z0-9_-]{1,255}/versions/([1-9][0-9]*|latest)$`)

// VersionName resolves ref, a secret version's full name or a bare secret
// ID (its latest version in project), for Access.
func VersionName(project, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if secretIDRe.MatchString(ref) {
		ref = "projects/" + project + "/secrets/" + ref + "/versions/latest"
	}
	if !versionNameRe.MatchString(ref) {
		return "", fmt.Errorf("secretmanager: %q is neither a secret ID nor projects/P/secrets/S/versions/V", ref)
	}
	return ref, nil
}

// Access returns the raw payload of the secret version called name (a
// VersionName), outside the service's own prefix: a secret an operator
// made, such as the webhook signing secret. Its errors name the version,
// never the payload.
func (s *Store) Access(ctx context.Context, name string) ([]byte, error) {
	if !versionNameRe.MatchString(name) {
		return nil, fmt.Errorf("secretmanager: access: invalid version name %q", name)
	}
	data, err := s.access(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("secretmanager: access %s: %w", name, err)
	}
	return data, nil
}

// access reads the payload of the version called name, its checksum
// required and checked; a missing or disabled version is
// secret.ErrNotFound. Get and Access both read through it.
func (s *Store) access(ctx context.Context, name string) ([]byte, error) {
	resp, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		if c := status.Code(err); c == codes.NotFound || c == codes.FailedPrecondition {
			return nil, fmt.Errorf("%w (%w)", secret.ErrNotFound, err)
		}
		return nil, err
	}
	p := resp.GetPayload()
	if p.DataCrc32C == nil {
		clear(p.GetData())
		return nil, fmt.Errorf("no checksum in response: %w", secret.ErrCorrupt)
	}
	if *p.DataCrc32C != int64(crc32.Checksum(p.GetData(), crcTable)) {
		clear(p.GetData())
		return nil, fmt.Errorf("checksum mismatch: %w", secret.ErrCorrupt)
	}
	return p.GetData(), nil
}
