package smserver

import (
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxPayload is Secret Manager's limit on one version's data.
const maxPayload = 64 * 1024

// len64Max is above every version number, the start of a descending list.
const len64Max = 1<<63 - 1

// crcTable is Castagnoli, the polynomial Secret Manager uses for data_crc32c.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

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

	e, unlock, err := s.lockSecret(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	v, unlock, err := s.lockVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	v, unlock, err := s.lockVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	defer unlock()
	return clone(v.meta), nil
}

// ListSecretVersions implements secretmanagerpb.SecretManagerServiceServer.
// Like the real service it lists newest first.
func (s *Server) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	name, err := parseSecretName(req.GetParent())
	if err != nil {
		return nil, err
	}
	f, size, token, err := parseListing(req.GetFilter(), versionFields, req.GetPageSize(), req.GetPageToken())
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

	e, unlock, err := s.lockSecret(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	v, unlock, err := s.lockVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	v, unlock, err := s.lockVersion(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
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
