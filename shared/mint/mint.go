// Package mint turns a connector into a short-lived credential, and caches
// that credential so that the provider is asked as rarely as possible:
//
//   - in-process, per connector revision, until a margin before expiry;
//     concurrent callers share one fill (singleflight);
//   - across instances, in a tokencache.Cache entry holding the credential
//     sealed with a key from the secret store, and a lease: the one instance
//     holding it calls the provider, the others wait for its result.
//
// Connector metadata is cached in-process for MetadataTTL (5 s), and cache
// entries are tied to the connector's revision, so an update, deactivation or
// deletion takes effect on every instance within that time, and at once on
// the instance that served it (Forget, through Catalog.Watch). A refresh token
// that the provider rotates is written back (catalog.RotateRefreshToken)
// before the new access token is handed to anyone.
package mint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/tokencache"

	"connectors.dev/connectors/shared/errkind"
)

// Errors the token function maps to statuses.
var (
	ErrAgentNotAllowed = errkind.New(errkind.PermissionDenied, "agent is not allowed to use this connector",
		"agent", "this agent is not among the connector's agents")
	ErrInactive = errkind.New(errkind.FailedPrecondition, "connector is inactive",
		"", "the connector is inactive; an admin must activate it before it mints credentials")
	ErrUnsupported = errkind.New(errkind.FailedPrecondition, "grant type cannot be minted here",
		"grantType", "this deployment cannot mint credentials of the connector's grant type")
)

// Credential is what a caller receives. Its JSON form is sealed into the
// shared cache; the wire form is built by the token function.
type Credential struct {
	AccessToken string          `json:"accessToken,omitempty"`
	TokenType   string          `json:"tokenType,omitempty"`
	Scope       string          `json:"scope,omitempty"`
	Expiry      time.Time       `json:"expiry"`
	IssuedAt    time.Time       `json:"issuedAt"`
	AWS         *AWSCredentials `json:"aws,omitempty"`
}

// AWSCredentials are temporary AWS credentials from STS.
type AWSCredentials struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
}

// Minted is a fresh credential and, when the provider rotated it, the new
// refresh token to store.
type Minted struct {
	Credential   Credential
	RefreshToken string
}

// Minter calls a provider for one kind of connector.
type Minter interface {
	Mint(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error)
}

// MinterFunc adapts a function to Minter.
type MinterFunc func(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error)

// Mint calls f.
func (f MinterFunc) Mint(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error) {
	return f(ctx, c, b)
}

// Defaults for Service's durations.
const (
	DefaultMetadataTTL  = 5 * time.Second
	DefaultLeaseTTL     = 30 * time.Second // longer than the token request timeout
	DefaultMargin       = 60 * time.Second
	DefaultPollInterval = 50 * time.Millisecond
	maxBundles          = 1024
)

// Service mints and caches credentials. Fields are set once, before use.
type Service struct {
	Catalog *catalog.Catalog
	Cache   tokencache.Cache
	Sealer  *Sealer
	// OAuth mints every OAuth grant type; ByGrant holds, by grant type, the
	// minters of those that are not OAuth (gcs_service_account, aws_iam).
	OAuth   Minter
	ByGrant map[string]Minter
	// Instance names this process as a lease holder.
	Instance string
	// Log receives what a caller's error does not say (a recovered panic).
	Log *slog.Logger

	Now          func() time.Time
	MetadataTTL  time.Duration
	LeaseTTL     time.Duration
	Margin       time.Duration
	PollInterval time.Duration

	group singleflight.Group
	mu    sync.Mutex
	meta  map[string]metaEntry
	// local holds one credential per connector name, with the revision it
	// was minted for.
	local map[string]localEntry
	// bundles caches secrets by secretID@version. A version never changes,
	// so entries never go stale; the bound keeps memory flat.
	bundles map[string]secret.Bundle
}

type localEntry struct {
	revision string
	cred     *Credential
}

type metaEntry struct {
	conn    *connector.Connector
	fetched time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Layer tells where a credential came from, for audit lines.
type Layer uint8

// The layers, from the cheapest.
const (
	LayerLocal  Layer = iota + 1 // this process's cache
	LayerShared                  // the shared cache, filled by any instance
	LayerMinted                  // the provider, asked for this request (or a flight it joined)
)

// String is the layer's name in audit lines.
func (l Layer) String() string {
	switch l {
	case LayerLocal:
		return "local"
	case LayerShared:
		return "shared"
	case LayerMinted:
		return "minted"
	}
	return "none"
}

// Token returns a credential from the connector called name for agent.
func (s *Service) Token(ctx context.Context, name, agent string) (*Credential, error) {
	c, _, err := s.TokenLayer(ctx, name, agent)
	return c, err
}

// TokenLayer is Token, also telling which layer answered.
func (s *Service) TokenLayer(ctx context.Context, name, agent string) (*Credential, Layer, error) {
	conn, err := s.connector(ctx, name, cachedMeta)
	if err != nil {
		return nil, 0, err
	}
	if !conn.HasAgent(agent) {
		return nil, 0, fmt.Errorf("mint: %s for agent %s: %w", name, agent, ErrAgentNotAllowed)
	}
	if !conn.Active {
		return nil, 0, fmt.Errorf("mint: %s: %w", name, ErrInactive)
	}
	if c := s.localGet(conn); c != nil {
		return c, LayerLocal, nil
	}
	return s.shared(ctx, conn, reuse)
}

// Test mints from the connector called name at the provider, bypassing
// every cache read, to check its configuration; the result still fills the
// caches.
func (s *Service) Test(ctx context.Context, name string) (*Credential, error) {
	conn, err := s.connector(ctx, name, storedMeta)
	if err != nil {
		return nil, err
	}
	if !conn.Active {
		return nil, fmt.Errorf("mint: %s: %w", name, ErrInactive)
	}
	c, _, err := s.shared(ctx, conn, askProvider)
	return c, err
}

// metaRead is where connector metadata is read from.
type metaRead uint8

const (
	cachedMeta metaRead = iota // the in-process copy, if under MetadataTTL old
	storedMeta                 // the store, always
)

// Connector returns the connector called name as this instance's minting
// sees it (cached for MetadataTTL), for functions that check a connector
// before minting from it.
func (s *Service) Connector(ctx context.Context, name string) (*connector.Connector, error) {
	return s.connector(ctx, name, cachedMeta)
}

// Bundle returns conn's secrets from the per-version cache minting uses.
// When conn is stale and the version it pins was replaced and pruned
// meanwhile, it returns the secrets the connector holds now.
func (s *Service) Bundle(ctx context.Context, conn *connector.Connector) (secret.Bundle, error) {
	_, b, err := s.current(ctx, conn)
	return b, err
}

// current returns conn's secrets and the connector they belong to. Cached
// metadata may be up to MetadataTTL old, and an admin's edit elsewhere
// prunes the version it pins: that is no failure, only a reason to read
// the connector again (once per change seen).
func (s *Service) current(ctx context.Context, conn *connector.Connector) (*connector.Connector, secret.Bundle, error) {
	for {
		b, err := s.bundle(ctx, conn)
		if err == nil || !errors.Is(err, secret.ErrNotFound) {
			return conn, b, err
		}
		fresh, ferr := s.connector(ctx, conn.Name, storedMeta)
		if ferr != nil {
			return nil, secret.Bundle{}, ferr
		}
		if fresh.SecretID == conn.SecretID && fresh.SecretVersion == conn.SecretVersion {
			return nil, secret.Bundle{}, err
		}
		conn = fresh
	}
}

// connector returns the metadata: from the in-process copy when read is
// cachedMeta and the copy is under MetadataTTL old, else from the store.
func (s *Service) connector(ctx context.Context, name string, read metaRead) (*connector.Connector, error) {
	if read == cachedMeta {
		s.mu.Lock()
		m, ok := s.meta[name]
		s.mu.Unlock()
		if ok && s.now().Sub(m.fetched) < orDefault(s.MetadataTTL, DefaultMetadataTTL) {
			return m.conn, nil
		}
	}
	c, err := s.Catalog.Get(ctx, name)
	if err != nil {
		if errors.Is(err, connector.ErrNotFound) {
			s.mu.Lock()
			delete(s.meta, name)
			s.mu.Unlock()
		}
		return nil, fmt.Errorf("mint: %w", err)
	}
	s.putMeta(c)
	return c, nil
}

// Forget drops what this process caches of the connector called name (its
// metadata and its credential), so the next Token reads it afresh; NewService
// registers it with the catalog (Catalog.Watch), so that an update or
// delete served by this instance applies to its own mints at once.
func (s *Service) Forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.meta, name)
	delete(s.local, name)
}

func (s *Service) putMeta(c *connector.Connector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta == nil {
		s.meta = map[string]metaEntry{}
	}
	s.meta[c.Name] = metaEntry{conn: c, fetched: s.now()}
}

// bundle reads the connector's pinned secret version once per process.
func (s *Service) bundle(ctx context.Context, conn *connector.Connector) (secret.Bundle, error) {
	if conn.SecretID == "" {
		return secret.Bundle{}, nil
	}
	key := conn.SecretID + "@" + conn.SecretVersion
	s.mu.Lock()
	b, ok := s.bundles[key]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.Catalog.Bundle(ctx, conn)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("mint: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bundles == nil || len(s.bundles) >= maxBundles {
		s.bundles = map[string]secret.Bundle{}
	}
	s.bundles[key] = b
	return b, nil
}
