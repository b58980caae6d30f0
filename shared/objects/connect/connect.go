// Package connect turns credentials into storage clients: a GCS client
// from a minted Google access token (and, to sign URLs, a service-account
// key), an S3 client from temporary AWS credentials, and the deployment's
// own clients from Application Default Credentials and the default AWS
// chain.
//
// It is where the provider SDKs meet the credentials, kept apart from the
// portable objects package (which the HTTP edge imports, and which must not
// link an SDK into every function) and from the function that decides
// which credentials a request may use.
package connect

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/gcsobjects"
	"connectors.dev/connectors/shared/objects/s3objects"
)

// Options say where storage requests go.
type Options struct {
	// GCSEndpoint overrides the GCS JSON API endpoint, e.g. an emulator's
	// http://127.0.0.1:4443. Over plain http the default client sends no
	// credentials: ADC on a developer's machine are their own Google
	// account, not for a local emulator.
	GCSEndpoint string
	// S3Endpoint overrides S3's endpoint, for an S3-compatible server;
	// requests then use path-style addressing.
	S3Endpoint string
	// S3Region is the region S3 requests are first signed for; empty
	// leaves it to the default AWS configuration. Buckets elsewhere are
	// found through S3's redirects.
	S3Region string
	// GCSProject is where the default GCS client creates buckets.
	GCSProject string
}

// CheckGCSEndpoint says whether endpoint can be Options.GCSEndpoint.
func CheckGCSEndpoint(endpoint string) error {
	_, err := gcsobjects.NormalizeEndpoint(endpoint)
	return err
}

// CheckS3Endpoint says whether endpoint can be Options.S3Endpoint.
func CheckS3Endpoint(endpoint string) error { return s3objects.CheckEndpoint(endpoint) }

// GCSCredentials make a GCS client for one request.
type GCSCredentials struct {
	// AccessToken, TokenType and Expiry are a minted OAuth 2.0 token.
	AccessToken string
	TokenType   string
	Expiry      time.Time
	// Project is where CreateBucket creates buckets.
	Project string
	// SignAs signs URLs with its own key; nil for a client that never
	// signs.
	SignAs *ServiceAccount
}

// ServiceAccount is a service account's identity and PEM private key, as
// in its JSON key file (client_email, private_key). Printing it redacts
// the key.
type ServiceAccount = gcsobjects.ServiceAccount

// AWSCredentials are temporary AWS credentials (from STS) for one request.
type AWSCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Clients makes storage clients. Every client it makes shares one
// connection pool per provider, one AWS configuration (the default chain's
// settings: HTTP client, CA bundle, retries) and one cache of S3 bucket
// regions, so that a client per request costs no new connections and no
// repeated redirects. The deployment's own clients are made on first use,
// so an instance that only ever uses connectors never looks up default
// credentials. It is safe for concurrent use.
type Clients struct {
	opts Options

	gcs     lazy[objects.Client]
	s3      lazy[objects.Client]
	aws     lazy[aws.Config]
	regions s3objects.RegionCache

	httpOnce sync.Once
	base     *http.Transport
}

// New returns Clients for o; nothing is made or looked up yet.
func New(o Options) *Clients { return &Clients{opts: o} }

// GCS makes a client that carries cred's access token on every request.
// The caller closes it.
func (c *Clients) GCS(ctx context.Context, cred GCSCredentials) (objects.Client, error) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: cred.AccessToken, TokenType: cred.TokenType, Expiry: cred.Expiry})
	cl, err := gcsobjects.New(ctx, gcsobjects.Options{
		Endpoint: c.opts.GCSEndpoint,
		Project:  cred.Project,
		SignAs:   cred.SignAs,
		ClientOptions: []option.ClientOption{
			// The token source also keeps the library from looking for
			// default credentials it would not use.
			option.WithTokenSource(ts),
			option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: ts, Base: c.transport()}}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect: GCS client: %w", err)
	}
	return cl, nil
}

// S3 makes a client that signs with cred. The caller closes it.
func (c *Clients) S3(ctx context.Context, cred AWSCredentials) (objects.Client, error) {
	base, err := c.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	cfg := base.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken)
	cl, err := s3objects.New(s3objects.Options{Config: cfg, Endpoint: c.opts.S3Endpoint, Regions: &c.regions})
	if err != nil {
		return nil, fmt.Errorf("connect: S3 client: %w", err)
	}
	return cl, nil
}

// DefaultGCS returns the deployment's GCS client (Application Default
// Credentials; none over a plain-http endpoint), made once. It outlives
// the request, so it is not made with the request's context; the caller
// must not close it.
func (c *Clients) DefaultGCS(ctx context.Context) (objects.Client, error) {
	return c.gcs.get(func() (objects.Client, error) {
		opts := gcsobjects.Options{Endpoint: c.opts.GCSEndpoint, Project: c.opts.GCSProject}
		if strings.HasPrefix(c.opts.GCSEndpoint, "http://") {
			opts.ClientOptions = []option.ClientOption{option.WithoutAuthentication(), option.WithHTTPClient(&http.Client{Transport: c.transport()})}
		}
		cl, err := gcsobjects.New(context.WithoutCancel(ctx), opts)
		if err != nil {
			return nil, fmt.Errorf("connect: default GCS credentials: %w", err)
		}
		return cl, nil
	})
}

// DefaultS3 returns the deployment's S3 client (the default AWS credential
// chain), made once. The caller must not close it.
func (c *Clients) DefaultS3(ctx context.Context) (objects.Client, error) {
	return c.s3.get(func() (objects.Client, error) {
		cfg, err := c.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		cl, err := s3objects.New(s3objects.Options{Config: cfg, Endpoint: c.opts.S3Endpoint, Regions: &c.regions})
		if err != nil {
			return nil, fmt.Errorf("connect: default S3 client: %w", err)
		}
		return cl, nil
	})
}

// awsConfig is the deployment's AWS configuration, loaded once: the
// default credential chain and the settings every S3 client shares.
// Connector clients copy it and replace the credentials.
func (c *Clients) awsConfig(ctx context.Context) (aws.Config, error) {
	return c.aws.get(func() (aws.Config, error) {
		var opts []func(*awsconfig.LoadOptions) error
		if c.opts.S3Region != "" {
			opts = append(opts, awsconfig.WithRegion(c.opts.S3Region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(context.WithoutCancel(ctx), opts...)
		if err != nil {
			return aws.Config{}, fmt.Errorf("connect: load the default AWS configuration: %w", err)
		}
		return cfg, nil
	})
}

// lazy holds a value made on first successful use; a failed attempt is
// not kept, so the next call tries again (default credentials may appear
// later). It is safe for concurrent use.
type lazy[T any] struct {
	mu   sync.Mutex
	v    T
	made bool
}

func (l *lazy[T]) get(build func() (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.made {
		v, err := build()
		if err != nil {
			return v, err
		}
		l.v, l.made = v, true
	}
	return l.v, nil
}

// transport is the connection pool every GCS client shares, so
// per-request clients (one per connector call) reuse connections.
func (c *Clients) transport() *http.Transport {
	c.httpOnce.Do(func() { c.base = http.DefaultTransport.(*http.Transport).Clone() })
	return c.base
}
