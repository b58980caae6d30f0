package files

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/connect"
)

// Options say where storage requests go and how much a write may carry.
type Options struct {
	// GCSEndpoint overrides the GCS JSON API endpoint
	// (CONNECTORS_GCS_ENDPOINT), e.g. an emulator's http://127.0.0.1:4443.
	// Over plain http the default client sends no credentials: ADC on a
	// developer's machine are their own Google account, not for a local
	// emulator.
	GCSEndpoint string
	// S3Endpoint overrides S3's endpoint (CONNECTORS_S3_ENDPOINT), for an
	// S3-compatible server; requests then use path-style addressing.
	S3Endpoint string
	// S3Region is the region S3 requests are first signed for
	// (CONNECTORS_S3_REGION, else AWS_REGION, AWS_DEFAULT_REGION; default
	// us-east-1). Buckets elsewhere are found through S3's redirects.
	S3Region string
	// GCSProject is where createBucket makes GCS buckets without a
	// connector (GOOGLE_CLOUD_PROJECT).
	GCSProject string
	// MaxWriteBytes caps a write's decoded data
	// (CONNECTORS_FILES_MAX_WRITE_BYTES; default DefaultMaxWriteBytes).
	MaxWriteBytes int64
	// DefaultAccess says where requests without a connector may use the
	// deployment's own credentials (CONNECTORS_FILES_DEFAULT_ACCESS,
	// ParseDefaultAccess). Empty, the default: nowhere.
	DefaultAccess DefaultAccess
	// MaxSignedExpiry caps sign's expiresIn
	// (CONNECTORS_FILES_MAX_SIGNED_EXPIRY, a Go duration up to 168h;
	// default DefaultMaxSignedExpiry).
	MaxSignedExpiry time.Duration
	// WriteBufferBytes bounds the request bytes of large bodies (writes)
	// read and decoded at once across concurrent requests
	// (CONNECTORS_FILES_WRITE_BUFFER_BYTES; default DefaultWriteBufferBytes,
	// at least one largest write's request).
	WriteBufferBytes int64
	// ReadTimeout bounds streaming a read's body
	// (CONNECTORS_FILES_READ_TIMEOUT, a Go duration; default
	// DefaultReadTimeout). The request deadline bounds only opening the
	// object: a large object takes longer than that to stream.
	ReadTimeout time.Duration
}

// OptionsFromEnv reads Options; errors name the variable.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		GCSEndpoint: strings.TrimSpace(getenv("CONNECTORS_GCS_ENDPOINT")),
		S3Endpoint:  strings.TrimSpace(getenv("CONNECTORS_S3_ENDPOINT")),
		GCSProject:  strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
	}
	for _, k := range []string{"CONNECTORS_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		if o.S3Region = strings.TrimSpace(getenv(k)); o.S3Region != "" {
			break
		}
	}
	if o.GCSEndpoint != "" {
		if err := connect.CheckGCSEndpoint(o.GCSEndpoint); err != nil {
			return Options{}, fmt.Errorf("files: CONNECTORS_GCS_ENDPOINT: %w", err)
		}
	}
	if o.S3Endpoint != "" {
		if err := connect.CheckS3Endpoint(o.S3Endpoint); err != nil {
			return Options{}, fmt.Errorf("files: CONNECTORS_S3_ENDPOINT: %w", err)
		}
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_FILES_MAX_WRITE_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1<<30 {
			return Options{}, fmt.Errorf("files: CONNECTORS_FILES_MAX_WRITE_BYTES must be a byte count from 1 to %d, not %q", 1<<30, v)
		}
		o.MaxWriteBytes = n
	}
	if v := strings.TrimSpace(getenv(DefaultAccessEnv)); v != "" {
		d, err := ParseDefaultAccess(v)
		if err != nil {
			return Options{}, fmt.Errorf("files: %s: %w", DefaultAccessEnv, err)
		}
		o.DefaultAccess = d
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_FILES_MAX_SIGNED_EXPIRY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > objects.MaxSignedExpiry {
			return Options{}, fmt.Errorf("files: CONNECTORS_FILES_MAX_SIGNED_EXPIRY must be a duration from 1s to 168h (7 days, the providers' limit), not %q", v)
		}
		o.MaxSignedExpiry = d
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_FILES_WRITE_BUFFER_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1<<40 {
			return Options{}, fmt.Errorf("files: CONNECTORS_FILES_WRITE_BUFFER_BYTES must be a byte count, not %q", v)
		}
		o.WriteBufferBytes = n
	}
	if v := strings.TrimSpace(getenv("CONNECTORS_FILES_READ_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Options{}, fmt.Errorf("files: CONNECTORS_FILES_READ_TIMEOUT must be a positive duration such as 10m, not %q", v)
		}
		o.ReadTimeout = d
	}
	if o.WriteBufferBytes > 0 {
		s := Server{Options: o}
		if need := s.requestLimit(); o.WriteBufferBytes < need {
			return Options{}, fmt.Errorf("files: CONNECTORS_FILES_WRITE_BUFFER_BYTES (%d) must hold at least one largest write's request, %d bytes", o.WriteBufferBytes, need)
		}
	}
	return o, nil
}

// connect is the part of Options that says where storage requests go.
func (o Options) connect() connect.Options {
	return connect.Options{GCSEndpoint: o.GCSEndpoint, S3Endpoint: o.S3Endpoint, S3Region: o.S3Region, GCSProject: o.GCSProject}
}

func (s *Server) maxWrite() int64 {
	if s.Options.MaxWriteBytes > 0 {
		return s.Options.MaxWriteBytes
	}
	return DefaultMaxWriteBytes
}

func (s *Server) maxSignedExpiry() time.Duration {
	if s.Options.MaxSignedExpiry > 0 {
		return s.Options.MaxSignedExpiry
	}
	return DefaultMaxSignedExpiry
}

// signedTTL is a signed URL's lifetime when expiresIn is not given.
func (s *Server) signedTTL() time.Duration {
	return min(objects.DefaultSignedTTL, s.maxSignedExpiry())
}

func (s *Server) readTimeout() time.Duration {
	if s.Options.ReadTimeout > 0 {
		return s.Options.ReadTimeout
	}
	return DefaultReadTimeout
}

// requestLimit fits a write of maxWrite bytes in base64 plus the other
// fields, which the ordinary JSON limit bounds.
func (s *Server) requestLimit() int64 {
	return int64(base64.StdEncoding.EncodedLen(int(s.maxWrite()))) + httpx.MaxBodyBytes
}
