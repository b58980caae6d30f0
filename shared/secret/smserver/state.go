package smserver

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The store behind the RPCs: entries, name and label checks, helpers that
// run under s.mu, and paging.

// maxPageSize caps page_size the way the real service does.
const maxPageSize = 25000

var (
	secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// Label rules from the Secret Manager documentation: lowercase letters
	// (international allowed), digits, '_' and '-'; keys start with a letter.
	labelKeyRe   = regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	labelValueRe = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
)

type secretEntry struct {
	meta     *secretmanagerpb.Secret
	versions []*versionEntry // index i holds version i+1
}

type versionEntry struct {
	meta *secretmanagerpb.SecretVersion
	data []byte
}

// ---- names ----

func parseProject(parent string) (string, error) {
	p, ok := strings.CutPrefix(parent, "projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", status.Errorf(codes.InvalidArgument, "invalid parent %q: want projects/PROJECT", parent)
	}
	return p, nil
}

// parseSecretName checks projects/P/secrets/S and returns it unchanged.
func parseSecretName(name string) (string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "secrets" || !secretIDRe.MatchString(parts[3]) {
		return "", status.Errorf(codes.InvalidArgument, "invalid secret name %q: want projects/PROJECT/secrets/SECRET", name)
	}
	return name, nil
}

// parseVersionName splits projects/P/secrets/S/versions/V into the secret
// name and V, which is a positive number or "latest".
func parseVersionName(name string) (secretName, version string, err error) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid version name %q: want projects/PROJECT/secrets/SECRET/versions/VERSION", name)
	}
	secretName, version = name[:i], name[i+len("/versions/"):]
	if _, err := parseSecretName(secretName); err != nil {
		return "", "", err
	}
	if version != "latest" {
		if n, err := strconv.ParseInt(version, 10, 64); err != nil || n < 1 {
			return "", "", status.Errorf(codes.InvalidArgument, "invalid version %q: want a positive number or latest", version)
		}
	}
	return secretName, version, nil
}

func validateLabels(labels map[string]string) error {
	if len(labels) > 64 {
		return status.Errorf(codes.InvalidArgument, "too many labels: %d > 64", len(labels))
	}
	for k, v := range labels {
		if !labelKeyRe.MatchString(k) {
			return status.Errorf(codes.InvalidArgument, "invalid label key %q", k)
		}
		if !labelValueRe.MatchString(v) {
			return status.Errorf(codes.InvalidArgument, "invalid value for label %q", k)
		}
	}
	return nil
}

// ---- helpers under s.mu ----

func (s *Server) nextEtag() string {
	s.etagSeq++
	return strconv.Quote(strconv.FormatInt(s.etagSeq, 36))
}

// lookupSecret checks the name as parseSecretName does (callers that
// validate more of the request first have parsed it already, to keep the
// real service's order of errors) and resolves it.
func (s *Server) lookupSecret(name string) (*secretEntry, error) {
	if _, err := parseSecretName(name); err != nil {
		return nil, err
	}
	e, ok := s.secrets[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", name)
	}
	return e, nil
}

// lockSecret takes s.mu and resolves the secret called name (as
// lookupSecret); on success the caller releases the lock with unlock, on
// error it is released already.
func (s *Server) lockSecret(name string) (e *secretEntry, unlock func(), err error) {
	s.mu.Lock()
	if e, err = s.lookupSecret(name); err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	return e, s.mu.Unlock, nil
}

// lockVersion is lockSecret for a version name (as lookupVersion).
func (s *Server) lockVersion(name string) (v *versionEntry, unlock func(), err error) {
	s.mu.Lock()
	if _, v, err = s.lookupVersion(name); err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	return v, s.mu.Unlock, nil
}

// lookupVersion resolves a version name, including the "latest" alias.
func (s *Server) lookupVersion(name string) (*secretEntry, *versionEntry, error) {
	secretName, version, err := parseVersionName(name)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.lookupSecret(secretName)
	if err != nil {
		return nil, nil, err
	}
	if version == "latest" {
		for i := len(e.versions) - 1; i >= 0; i-- {
			if e.versions[i].meta.State == secretmanagerpb.SecretVersion_ENABLED {
				return e, e.versions[i], nil
			}
		}
		return nil, nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	n, _ := strconv.Atoi(version) // validated by parseVersionName
	if n > len(e.versions) {
		return nil, nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	return e, e.versions[n-1], nil
}

func checkEtag(want, have string) error {
	if want != "" && want != have {
		return status.Error(codes.Aborted, "etag does not match the current etag of the resource")
	}
	return nil
}

func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

// ---- paging ----

// parseListing checks a list request's filter, page size and page token,
// in the order the real service reports them.
func parseListing(filterSrc string, fields fieldSet, n int32, tok string) (f filter, size int, after string, err error) {
	if f, err = parseFilter(filterSrc, fields); err != nil {
		return filter{}, 0, "", err
	}
	if size, err = pageSize(n); err != nil {
		return filter{}, 0, "", err
	}
	if after, err = decodePageToken(tok); err != nil {
		return filter{}, 0, "", err
	}
	return f, size, after, nil
}

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case n == 0 || n > maxPageSize:
		return maxPageSize, nil
	default:
		return int(n), nil
	}
}

func encodePageToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !utf8.Valid(b) {
		return "", status.Error(codes.InvalidArgument, "invalid page_token")
	}
	return string(b), nil
}
