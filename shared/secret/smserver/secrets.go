package smserver

import (
	"context"
	"maps"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

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
		Labels:      maps.Clone(in.GetLabels()),
		Annotations: maps.Clone(in.GetAnnotations()),
		Etag:        s.nextEtag(),
	}
	s.secrets[name] = &secretEntry{meta: meta}
	return clone(meta), nil
}

// GetSecret implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) GetSecret(_ context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	e, unlock, err := s.lockSecret(req.GetName())
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	e, unlock, err := s.lockSecret(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := checkEtag(in.GetEtag(), e.meta.Etag); err != nil {
		return nil, err
	}
	for _, p := range paths {
		switch p {
		case "labels":
			e.meta.Labels = maps.Clone(in.GetLabels())
		case "annotations":
			e.meta.Annotations = maps.Clone(in.GetAnnotations())
		}
	}
	e.meta.Etag = s.nextEtag()
	return clone(e.meta), nil
}

// DeleteSecret implements secretmanagerpb.SecretManagerServiceServer.
func (s *Server) DeleteSecret(_ context.Context, req *secretmanagerpb.DeleteSecretRequest) (*emptypb.Empty, error) {
	e, unlock, err := s.lockSecret(req.GetName())
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := checkEtag(req.GetEtag(), e.meta.Etag); err != nil {
		return nil, err
	}
	for _, v := range e.versions {
		wipe(v)
	}
	delete(s.secrets, req.GetName())
	return &emptypb.Empty{}, nil
}

// ListSecrets implements secretmanagerpb.SecretManagerServiceServer. Results
// are sorted by name, as the real service documents.
func (s *Server) ListSecrets(_ context.Context, req *secretmanagerpb.ListSecretsRequest) (*secretmanagerpb.ListSecretsResponse, error) {
	if _, err := parseProject(req.GetParent()); err != nil {
		return nil, err
	}
	f, size, after, err := parseListing(req.GetFilter(), secretFields, req.GetPageSize(), req.GetPageToken())
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
