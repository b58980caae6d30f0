// Package smserver is an in-memory Google Secret Manager (v1 gRPC API) for
// tests and CI. It speaks the real wire protocol, so the real client library
// (cloud.google.com/go/secretmanager/apiv1) talks to it unchanged, and it
// follows Secret Manager's documented semantics for the methods it
// implements: status codes, version numbering, the "latest" alias, version
// states, CRC32C checks and pagination.
//
// Deliberate simplifications, each chosen because nothing here needs more:
//   - only global secrets under projects/P (no locations/regional secrets);
//   - "latest" resolves to the highest ENABLED version for both
//     AccessSecretVersion and GetSecretVersion;
//   - filters are a conjunction of simple terms (see filter.go); OR, regular
//     expressions and time comparisons are rejected with INVALID_ARGUMENT
//     rather than silently ignored, so a caller never mistakes an unfiltered
//     list for a filtered one;
//   - IAM, rotation, topics, TTLs, CMEK and delayed destruction are not
//     implemented (the embedded Unimplemented server answers UNIMPLEMENTED).
//
// Other tests can inject faults: SetUnavailable makes every RPC fail with
// UNAVAILABLE, SetAccessFault corrupts AccessSecretVersion responses, and
// Calls counts RPCs per method.
package smserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AccessFault selects how AccessSecretVersion misbehaves, so that clients'
// integrity checks can be tested against a server that lies.
type AccessFault int

const (
	// AccessOK answers truthfully.
	AccessOK AccessFault = iota
	// AccessBadCRC flips a bit of the returned data but keeps the checksum
	// of the stored data, as corruption in transit would.
	AccessBadCRC
	// AccessNoCRC omits data_crc32c from the returned payload.
	AccessNoCRC
)

// maxPayload is Secret Manager's limit on one version's data.
const maxPayload = 64 * 1024

// maxPageSize caps page_size the way the real service does.
const maxPageSize = 25000

// len64Max is above every version number, the start of a descending list.
const len64Max = 1<<63 - 1

var (
	secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// Label rules from the Secret Manager documentation: lowercase letters
	// (international allowed), digits, '_' and '-'; keys start with a letter.
	labelKeyRe   = regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	labelValueRe = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
)

// crcTable is Castagnoli, the polynomial Secret Manager uses for data_crc32c.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Server is an in-memory Secret Manager. The zero value is not usable; call
// New.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	grpc *grpc.Server

	mu          sync.Mutex
	secrets     map[string]*secretEntry // by full name projects/P/secrets/S
	unavailable bool
	accessFault AccessFault
	calls       map[string]int
	etagSeq     int64
}

type secretEntry struct {
	meta     *secretmanagerpb.Secret
	versions []*versionEntry // index i holds version i+1
}

type versionEntry struct {
	meta *secretmanagerpb.SecretVersion
	data []byte
}

// New returns a server with no secrets, ready to Serve or Start.
func New() *Server {
	s := &Server{
		secrets: make(map[string]*secretEntry),
		calls:   make(map[string]int),
	}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpc, s)
	return s
}

// Serve serves gRPC on lis until Stop; it returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(lis)
}

// Start listens on addr (for example "127.0.0.1:0"), serves in the
// background and returns the address actually bound.
func (s *Server) Start(addr string) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("smserver: listen: %w", err)
	}
	go func() { _ = s.Serve(lis) }() // only ever ends through Stop
	return lis.Addr().String(), nil
}

// Stop closes listeners and connections at once; pending RPCs fail.
func (s *Server) Stop() { s.grpc.Stop() }

// ClientOptions connect cloud.google.com/go/secretmanager's real client to
// a server at addr on loopback: plaintext gRPC, no credentials.
func ClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// SetUnavailable makes every RPC fail with codes.Unavailable while on, as a
// network partition or an outage of the real service would.
func (s *Server) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = on
}

// SetAccessFault makes AccessSecretVersion misbehave as f says until reset
// with AccessOK.
func (s *Server) SetAccessFault(f AccessFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessFault = f
}

// Calls reports how many RPCs of method (short name such as
// "AccessSecretVersion", or the full gRPC method) the server has received,
// including ones failed by SetUnavailable.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path.Base(method)]
}

// intercept counts calls and applies the unavailability switch in one place
// so that every method, present and future, honours both.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.calls[path.Base(info.FullMethod)]++
	down := s.unavailable
	s.mu.Unlock()
	if down {
		return nil, status.Error(codes.Unavailable, "smserver: service unavailable (fault injected)")
	}
	return handler(ctx, req)
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

func (s *Server) lookupSecret(name string) (*secretEntry, error) {
	e, ok := s.secrets[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", name)
	}
	return e, nil
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

// ---- secrets ----

// CreateSecret implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) CreateSecret(_ context.Context, req *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	if _, err := parseProject(req.GetParent()); err != nil {
		return nil, err
	}
	if !secretIDRe.MatchString(req.GetSecretId()) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret_id %q: want [A-Za-z0-9_-]{1,255}", req.GetSecretId())
	}
	in := req.GetSecret()
	if in.GetReplication().GetReplication() == nil {
		return nil, status.Error(codes.InvalidArgument, "secret.replication is required")
	}
	if err := validateLabels(in.GetLabels()); err != nil {
		return nil, err
	}
	name := req.GetParent() + "/secrets/" + req.GetSecretId()

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", name)
	}
	meta := &secretmanagerpb.Secret{
		Name:        name,
		Replication: clone(in.GetReplication()),
		CreateTime:  timestamppb.New(time.Now()),
		Labels:      copyMap(in.GetLabels()),
		Annotations: copyMap(in.GetAnnotations()),
		Etag:        s.nextEtag(),
	}
	s.secrets[name] = &secretEntry{meta: meta}
	return clone(meta), nil
}

// GetSecret implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) GetSecret(_ context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	name, err := parseSecretName(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupSecret(name)
	if err != nil {
		return nil, err
	}
	return clone(e.meta), nil
}

// UpdateSecret implements secretmanagerpb.SecretManagerServiceServer. Like
// the real service it requires an update_mask; labels and annotations are
// the updatable fields supported here.
func (s *Server) UpdateSecret(_ context.Context, req *secretmanagerpb.UpdateSecretRequest) (*secretmanagerpb.Secret, error) {
	in := req.GetSecret()
	name, err := parseSecretName(in.GetName())
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, status.Error(codes.InvalidArgument, "update_mask is required")
	}
	for _, p := range paths {
		if p != "labels" && p != "annotations" {
			return nil, status.Errorf(codes.InvalidArgument, "update_mask path %q is not supported", p)
		}
	}
	if err := validateLabels(in.GetLabels()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupSecret(name)
	if err != nil {
		return nil, err
	}
	if err := checkEtag(in.GetEtag(), e.meta.Etag); err != nil {
		return nil, err
	}
	for _, p := range paths {
		switch p {
		case "labels":
			e.meta.Labels = copyMap(in.GetLabels())
		case "annotations":
			e.meta.Annotations = copyMap(in.GetAnnotations())
		}
	}
	e.meta.Etag = s.nextEtag()
	return clone(e.meta), nil
}

// DeleteSecret implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) DeleteSecret(_ context.Context, req *secretmanagerpb.DeleteSecretRequest) (*emptypb.Empty, error) {
	name, err := parseSecretName(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupSecret(name)
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), e.meta.Etag); err != nil {
		return nil, err
	}
	for _, v := range e.versions {
		wipe(v)
	}
	delete(s.secrets, name)
	return &emptypb.Empty{}, nil
}

// ListSecrets implements secretmanagerpb.SecretManagerServiceServer. Results
// are sorted by name, as the real service documents.
func (s *Server) ListSecrets(_ context.Context, req *secretmanagerpb.ListSecretsRequest) (*secretmanagerpb.ListSecretsResponse, error) {
	if _, err := parseProject(req.GetParent()); err != nil {
		return nil, err
	}
	f, err := parseFilter(req.GetFilter(), secretFields)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := req.GetParent() + "/secrets/"
	var all []*secretmanagerpb.Secret
	for name, e := range s.secrets {
		if strings.HasPrefix(name, prefix) && f.matchSecret(e.meta) {
			all = append(all, e.meta)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	resp := &secretmanagerpb.ListSecretsResponse{TotalSize: int32(len(all))}
	// The token is the last name returned, so pages stay consistent while
	// secrets are created or deleted between calls.
	start := sort.Search(len(all), func(i int) bool { return all[i].Name > after })
	for _, m := range all[start:] {
		if len(resp.Secrets) == size {
			resp.NextPageToken = encodePageToken(resp.Secrets[len(resp.Secrets)-1].Name)
			break
		}
		resp.Secrets = append(resp.Secrets, clone(m))
	}
	return resp, nil
}

// ---- versions ----

// AddSecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	name, err := parseSecretName(req.GetParent())
	if err != nil {
		return nil, err
	}
	p := req.GetPayload()
	if len(p.GetData()) > maxPayload {
		return nil, status.Errorf(codes.InvalidArgument, "payload is %d bytes; the limit is %d", len(p.GetData()), maxPayload)
	}
	if p.DataCrc32C != nil && *p.DataCrc32C != int64(crc32.Checksum(p.GetData(), crcTable)) {
		// Same code and message as the real service.
		return nil, status.Error(codes.InvalidArgument, "data corrupted")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupSecret(name)
	if err != nil {
		return nil, err
	}
	n := len(e.versions) + 1
	meta := &secretmanagerpb.SecretVersion{
		Name:                           fmt.Sprintf("%s/versions/%d", name, n),
		CreateTime:                     timestamppb.New(time.Now()),
		State:                          secretmanagerpb.SecretVersion_ENABLED,
		Etag:                           s.nextEtag(),
		ClientSpecifiedPayloadChecksum: p.DataCrc32C != nil,
		ReplicationStatus: &secretmanagerpb.ReplicationStatus{
			ReplicationStatus: &secretmanagerpb.ReplicationStatus_Automatic{
				Automatic: &secretmanagerpb.ReplicationStatus_AutomaticStatus{},
			},
		},
	}
	e.versions = append(e.versions, &versionEntry{meta: meta, data: append([]byte(nil), p.GetData()...)})
	return clone(meta), nil
}

// AccessSecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v, err := s.lookupVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	if st := v.meta.State; st != secretmanagerpb.SecretVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v.meta.Name, st)
	}
	data := append([]byte(nil), v.data...)
	crc := int64(crc32.Checksum(data, crcTable))
	payload := &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &crc}
	switch s.accessFault {
	case AccessBadCRC:
		if len(data) == 0 {
			crc ^= 1
		} else {
			data[0] ^= 1
		}
	case AccessNoCRC:
		payload.DataCrc32C = nil
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: v.meta.Name, Payload: payload}, nil
}

// GetSecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) GetSecretVersion(_ context.Context, req *secretmanagerpb.GetSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v, err := s.lookupVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	return clone(v.meta), nil
}

// ListSecretVersions implements secretmanagerpb.SecretManagerServiceServer.
// Like the real service it lists newest first.
func (s *Server) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	name, err := parseSecretName(req.GetParent())
	if err != nil {
		return nil, err
	}
	f, err := parseFilter(req.GetFilter(), versionFields)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	token, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	// The token is the last version number returned; listing is newest
	// first, so the next page holds smaller numbers.
	below := int64(len64Max)
	if token != "" {
		if below, err = strconv.ParseInt(token, 10, 64); err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupSecret(name)
	if err != nil {
		return nil, err
	}
	var all []*secretmanagerpb.SecretVersion
	for i := len(e.versions) - 1; i >= 0; i-- {
		if m := e.versions[i].meta; f.matchVersion(m) {
			all = append(all, m)
		}
	}
	resp := &secretmanagerpb.ListSecretVersionsResponse{TotalSize: int32(len(all))}
	for _, m := range all {
		if versionNumber(m.Name) >= below {
			continue
		}
		if len(resp.Versions) == size {
			resp.NextPageToken = encodePageToken(strconv.FormatInt(versionNumber(resp.Versions[size-1].Name), 10))
			break
		}
		resp.Versions = append(resp.Versions, clone(m))
	}
	return resp, nil
}

// DestroySecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) DestroySecretVersion(_ context.Context, req *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v, err := s.lookupVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), v.meta.Etag); err != nil {
		return nil, err
	}
	if v.meta.State == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is already in DESTROYED state.", v.meta.Name)
	}
	wipe(v)
	v.meta.State = secretmanagerpb.SecretVersion_DESTROYED
	v.meta.DestroyTime = timestamppb.New(time.Now())
	v.meta.Etag = s.nextEtag()
	return clone(v.meta), nil
}

// DisableSecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) DisableSecretVersion(_ context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.setState(req.GetName(), req.GetEtag(), secretmanagerpb.SecretVersion_DISABLED)
}

// EnableSecretVersion implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) EnableSecretVersion(_ context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.setState(req.GetName(), req.GetEtag(), secretmanagerpb.SecretVersion_ENABLED)
}

func (s *Server) setState(name, etag string, to secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v, err := s.lookupVersion(name)
	if err != nil {
		return nil, err
	}
	if err := checkEtag(etag, v.meta.Etag); err != nil {
		return nil, err
	}
	if v.meta.State == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DESTROYED state.", v.meta.Name)
	}
	v.meta.State = to
	v.meta.Etag = s.nextEtag()
	return clone(v.meta), nil
}

// versionNumber extracts N from a name this server generated.
func versionNumber(name string) int64 {
	n, _ := strconv.ParseInt(name[strings.LastIndex(name, "/")+1:], 10, 64)
	return n
}

// wipe overwrites the secret bytes before dropping them, so a destroyed
// version's data does not linger in memory any longer than Go forces.
func wipe(v *versionEntry) {
	clear(v.data)
	v.data = nil
}

// ---- paging ----

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

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
