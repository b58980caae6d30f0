package files

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/gcsobjects"
	"connectors.dev/connectors/shared/objects/s3objects"
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
		if _, err := gcsobjects.NormalizeEndpoint(o.GCSEndpoint); err != nil {
			return Options{}, fmt.Errorf("files: CONNECTORS_GCS_ENDPOINT: %w", err)
		}
	}
	if o.S3Endpoint != "" {
		if err := s3objects.CheckEndpoint(o.S3Endpoint); err != nil {
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

// target is the storage client one request uses.
type target struct {
	client objects.Client
	owned  bool // made for this request: closed after it
	// project is where GCS buckets are created; grantMember is the one
	// member grantAccess may grant (the connector's serviceAccountEmail),
	// set only for a grantAccess with a connector.
	project     string
	grantMember string
}

func (t *target) close() {
	if t.owned {
		_ = t.client.Close()
	}
}

// grantFor is the grant type whose credentials a scheme's storage takes.
func grantFor(scheme string) string {
	if scheme == objects.SchemeS3 {
		return connector.GrantAWSIAM
	}
	return connector.GrantGCSServiceAccount
}

func (s *Server) target(ctx context.Context, req *request, u objects.URI) (*target, error) {
	if req.Connector == "" {
		return s.defaultTarget(ctx, u.Scheme)
	}
	return s.connectorTarget(ctx, req, u)
}

// connectorTarget authorizes the agent on the connector and makes a client
// with the connector's credentials. The grant type is checked against the
// URI before minting, so a mismatch costs no provider call; the agent is
// checked before that, so a stranger learns nothing about the connector.
func (s *Server) connectorTarget(ctx context.Context, req *request, u objects.URI) (*target, error) {
	// The minting service's view: cached, as Token below reads it anyway.
	conn, err := s.Mint.Connector(ctx, req.Connector)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	if !conn.HasAgent(req.Agent) {
		return nil, fmt.Errorf("files: %s for agent %s: %w", conn.Name, req.Agent, mint.ErrAgentNotAllowed)
	}
	if want := grantFor(u.Scheme); conn.GrantType != want {
		return nil, httpx.FieldError("connector", "%s has grant type %s; %s:// URIs need a %s connector", conn.Name, conn.GrantType, u.Scheme, want)
	}
	// A grant outlives the minted credential: only to the connector's own
	// account, decided before anything is minted or called.
	var member string
	if req.Op == OpGrantAccess && u.Scheme == objects.SchemeGCS {
		if member, err = checkGrantMember(req.Member, conn.ServiceAccountEmail); err != nil {
			return nil, err
		}
	}
	// Token is the authority: it checks agent and activity again on its
	// own view of the connector, and mints.
	cred, err := s.Mint.Token(ctx, req.Connector, req.Agent)
	if err != nil {
		return nil, err
	}
	changed := httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "the connector changed during the request; retry")
	if u.Scheme == objects.SchemeS3 {
		if cred.AWS == nil {
			return nil, changed
		}
		base, err := s.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		cfg := base.Copy()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(cred.AWS.AccessKeyID, cred.AWS.SecretAccessKey, cred.AWS.SessionToken)
		c, err := s3objects.New(s3objects.Options{Config: cfg, Endpoint: s.Options.S3Endpoint, Regions: &s.clients.regions})
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		return &target{client: c, owned: true}, nil
	}
	if cred.AccessToken == "" {
		return nil, changed
	}
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: cred.AccessToken, TokenType: cred.TokenType, Expiry: cred.Expiry})
	opts := gcsobjects.Options{
		Endpoint: s.Options.GCSEndpoint,
		Project:  conn.ClientID, // the project ID, for gcs_service_account
		ClientOptions: []option.ClientOption{
			// The token source also keeps the library from looking for
			// default credentials it would not use.
			option.WithTokenSource(ts),
			option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: ts, Base: s.transport()}}),
		},
	}
	// Only signing needs the key itself (and bucket creation its project
	// when the connector names none): other operations never read it.
	if req.Op == OpSign || (req.Op == OpCreateBucket && opts.Project == "") {
		key, err := s.serviceAccountKey(ctx, conn)
		if err != nil {
			return nil, err
		}
		if req.Op == OpSign {
			opts.SignAs = &gcsobjects.ServiceAccount{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey)}
		}
		if opts.Project == "" {
			opts.Project = key.ProjectID
		}
	}
	c, err := gcsobjects.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &target{client: c, owned: true, project: opts.Project, grantMember: member}, nil
}

// serviceAccountKey reads the connector's key from its pinned secret
// version, through the minting service's per-version cache. Its errors say
// nothing about the key's content.
func (s *Server) serviceAccountKey(ctx context.Context, conn *connector.Connector) (*connector.ServiceAccountKey, error) {
	b, err := s.Mint.Bundle(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	var key connector.ServiceAccountKey
	if json.Unmarshal([]byte(b.ClientSecret), &key) != nil || key.ClientEmail == "" || key.PrivateKey == "" {
		return nil, &httpx.Error{Status: http.StatusConflict, Code: httpx.CodeFailedPrecondition, Field: "connector",
			Message: "the connector's clientSecret is not a usable service-account key"}
	}
	return &key, nil
}

// defaultTarget returns the deployment's client for the scheme, made once.
// It outlives the request, so it is not made with the request's context.
func (s *Server) defaultTarget(ctx context.Context, scheme string) (*target, error) {
	ctx = context.WithoutCancel(ctx)
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	if scheme == objects.SchemeS3 {
		if s.clients.s3 == nil {
			cfg, err := s.awsConfig(ctx)
			if err != nil {
				return nil, err
			}
			c, err := s3objects.New(s3objects.Options{Config: cfg, Endpoint: s.Options.S3Endpoint, Regions: &s.clients.regions})
			if err != nil {
				return nil, fmt.Errorf("files: %w", err)
			}
			s.clients.s3 = c
		}
		return &target{client: s.clients.s3}, nil
	}
	if s.clients.gcs == nil {
		opts := gcsobjects.Options{Endpoint: s.Options.GCSEndpoint, Project: s.Options.GCSProject}
		if strings.HasPrefix(s.Options.GCSEndpoint, "http://") {
			opts.ClientOptions = []option.ClientOption{option.WithoutAuthentication(), option.WithHTTPClient(&http.Client{Transport: s.transport()})}
		}
		c, err := gcsobjects.New(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("files: default GCS credentials: %w", err)
		}
		s.clients.gcs = c
	}
	return &target{client: s.clients.gcs, project: s.Options.GCSProject}, nil
}

// awsConfig is the deployment's AWS configuration, loaded once: the
// default credential chain, and the settings every S3 client shares (its
// HTTP client and connection pool, a CA bundle, retries). Connector clients
// copy it and replace the credentials.
func (s *Server) awsConfig(ctx context.Context) (aws.Config, error) {
	s.clients.awsMu.Lock()
	defer s.clients.awsMu.Unlock()
	if s.clients.aws == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if s.Options.S3Region != "" {
			opts = append(opts, awsconfig.WithRegion(s.Options.S3Region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(context.WithoutCancel(ctx), opts...)
		if err != nil {
			return aws.Config{}, fmt.Errorf("files: load the default AWS configuration: %w", err)
		}
		s.clients.aws = &cfg
	}
	return *s.clients.aws, nil
}

// transport is the connection pool every GCS client shares, so
// per-request clients (one per connector call) reuse connections.
func (s *Server) transport() *http.Transport {
	s.clients.httpMu.Lock()
	defer s.clients.httpMu.Unlock()
	if s.clients.base == nil {
		s.clients.base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return s.clients.base
}
