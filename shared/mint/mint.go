// Package mint turns a connector into a short-lived credential, and caches
// that credential so that the provider is asked as rarely as possible:
//
//   - in-process, per connector revision, until a margin before expiry;
//     concurrent callers share one fill (singleflight);
//   - across instances, in a tokencache.Cache entry holding the credential
//     sealed with a key from the secret store, and a lease: the one instance
//     holding it calls the provider, the others wait for its result.
//
// Connector metadata is cached in-process, and cache entries are tied to
// the connector's revision. Once per MetadataTTL (5 s) an instance reads
// the catalog version, which every mutation bumps in its own transaction:
// unchanged, every cached connector stays valid for another TTL without
// being read; changed, only the connectors it names are read again. So an
// update, deactivation or deletion takes effect on every instance within
// that time, and at once on the instance that served it (Forget, through
// Catalog.Watch), while steady-state metadata reads grow with instances,
// not with the connectors they serve (version.go). A refresh token
// that the provider rotates is written back (catalog.RotateRefreshToken)
// before the new access token is handed to anyone.
package mint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/metrics"
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

// maxAbsent bounds the names a Service holds cached as not found at once
// (past it, each such request reads the store, as before absent names were
// cached).
const maxAbsent = 1024

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
	// Metrics counts mints and times the provider; nil counts nothing.
	Metrics *metrics.Metrics
	// SkipHealth: this instance records no connector health (health.go),
	// for a deployment whose identity may not write the connectors'
	// database (files).
	SkipHealth bool

	Now          func() time.Time
	MetadataTTL  time.Duration
	LeaseTTL     time.Duration
	Margin       time.Duration
	PollInterval time.Duration

	group singleflight.Group
	// The cache-hit path takes no lock: meta and local are sync.Maps (read
	// far more often than written, by many goroutines at once) and ver an
	// atomic pointer. metaMu orders only the slow path: a version poll
	// against the metadata reads it races with (see putMeta).
	metaMu sync.Mutex
	meta   sync.Map // connector name → *metaEntry
	// local holds one credential per connector name, with the revision it
	// was minted for: name → *localEntry.
	local sync.Map
	// ver is the catalog version last read, and when (see version.go).
	ver atomic.Pointer[verState]
	// absent counts the entries of meta that cache a name as not found:
	// putMeta, Forget and a version poll's drops keep it exact.
	absent atomic.Int64
	// bundles caches secrets by secretID@version. A version never changes,
	// so entries never go stale; the bound keeps memory flat.
	bundlesMu sync.Mutex
	bundles   map[string]secret.Bundle
}

type localEntry struct {
	revision string
	cred     *Credential
	// freshUntil is when cred stops being fresh (Service.fresh), worked
	// out once when it is kept rather than on every hit.
	freshUntil time.Time
	// hits is the series a local hit counts in, found once when the
	// credential is kept: counting a hit is then one atomic add.
	hits *metrics.Count
}

// metaEntry is a connector as read from the store. A versioned entry was
// read while the catalog version was the one this instance holds; it stays
// valid, whatever its age, for as long as a version read within the TTL
// names no change to it (a poll drops those). Any other entry is valid for
// MetadataTTL from its read, as every entry was before the catalog
// version existed.
type metaEntry struct {
	conn      *connector.Connector // nil: no connector has the name
	fetched   time.Time
	versioned bool
	slot      string // the name's connector.VersionSlot
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
	return s.TokenLayerAt(ctx, name, agent, s.now())
}

// TokenLayerAt is TokenLayer for a caller that has read the clock already
// (the token function, once per request: reading it is not free on every
// machine). A Service with a clock of its own (Now) reads that instead.
func (s *Service) TokenLayerAt(ctx context.Context, name, agent string, now time.Time) (*Credential, Layer, error) {
	if s.Now != nil {
		now = s.Now()
	}
	conn, err := s.connectorAt(ctx, name, cachedMeta, now)
	if err != nil {
		return nil, 0, s.count(nil, 0, err)
	}
	if !conn.HasAgent(agent) {
		return nil, 0, s.count(conn, 0, fmt.Errorf("mint: %s for agent %s: %w", name, agent, ErrAgentNotAllowed))
	}
	if !conn.Active {
		return nil, 0, s.count(conn, 0, fmt.Errorf("mint: %s: %w", name, ErrInactive))
	}
	if e := s.localEntryAt(conn, now); e != nil {
		e.hits.Inc()
		return e.cred, LayerLocal, nil
	}
	c, layer, err := s.shared(ctx, conn, reuse)
	return c, layer, s.count(conn, layer, err)
}

// count counts a mint from conn (nil: no connector has the name asked
// for) answered from layer, or refused with err, and returns err. An
// invalid_grant marks the connector as needing a reconnect, a credential
// from the shared cache or the provider clears that. The hit path does
// not come here (localEntry.hits).
func (s *Service) count(conn *connector.Connector, layer Layer, err error) error {
	if s.Metrics == nil {
		return err
	}
	var name, grant string
	if conn != nil {
		name, grant = conn.Name, conn.GrantType
	}
	outcome := metrics.Outcome(err)
	s.Metrics.Mint(name, grant, outcome, layer.String()).Inc()
	var dead *ReconnectError
	switch {
	case errors.As(err, &dead): // what marks the connector, not any invalid_grant
		s.Metrics.NeedsReconnect(name, true)
	case err == nil && layer != LayerLocal:
		s.Metrics.NeedsReconnect(name, false)
	}
	return err
}

// Test mints from the connector called name at the provider, bypassing
// every cache read, to check its configuration; the result still fills the
// caches.
func (s *Service) Test(ctx context.Context, name string) (*Credential, error) {
	conn, err := s.connector(ctx, name, storedMeta)
	if err != nil {
		return nil, s.count(nil, 0, err)
	}
	if !conn.Active {
		return nil, s.count(conn, 0, fmt.Errorf("mint: %s: %w", name, ErrInactive))
	}
	c, layer, err := s.shared(ctx, conn, askProvider)
	return c, s.count(conn, layer, err)
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
// cachedMeta and the copy is still valid (metaEntry), else from the store.
func (s *Service) connector(ctx context.Context, name string, read metaRead) (*connector.Connector, error) {
	return s.connectorAt(ctx, name, read, s.now())
}

// connectorAt is connector at the time now.
func (s *Service) connectorAt(ctx context.Context, name string, read metaRead, now time.Time) (*connector.Connector, error) {
	st := s.version(ctx, now)
	if read == cachedMeta {
		if v, ok := s.meta.Load(name); ok {
			m := v.(*metaEntry)
			if (m.versioned && st != nil) || now.Sub(m.fetched) < orDefault(s.MetadataTTL, DefaultMetadataTTL) {
				if m.conn == nil {
					return nil, fmt.Errorf("mint: %s: %w", name, connector.ErrNotFound)
				}
				return m.conn, nil
			}
		}
	}
	c, err := s.Catalog.Get(ctx, name)
	if err != nil {
		if errors.Is(err, connector.ErrNotFound) && s.absent.Load() < maxAbsent {
			// Absent is cached too, by the same rules: a create names it
			// in the catalog version (and Forget drops it here). Only so
			// many: any agent can ask for names that do not exist.
			s.putMeta(&connector.Connector{Name: name}, st, now, true)
		}
		return nil, fmt.Errorf("mint: %w", err)
	}
	s.putMeta(c, st, now, false)
	return c, nil
}

// Forget drops what this process caches of the connector called name (its
// metadata and its credential), so the next Token reads it afresh; NewService
// registers it with the catalog (Catalog.Watch), so that an update or
// delete served by this instance applies to its own mints at once.
func (s *Service) Forget(name string) {
	if v, ok := s.meta.LoadAndDelete(name); ok && v.(*metaEntry).conn == nil {
		s.absent.Add(-1)
	}
	s.local.Delete(name)
}

// dropMeta drops m, the entry of key, unless it was replaced meanwhile.
func (s *Service) dropMeta(key any, m *metaEntry) {
	if s.meta.CompareAndDelete(key, m) && m.conn == nil {
		s.absent.Add(-1)
	}
}

// putMeta keeps c (only its name when absent: none is stored), read at now while the catalog version held was st (nil:
// none). The entry is versioned only if st is still the version held: a
// poll that moved it meanwhile may have looked for c's name before c was
// stored, and c may predate the change it found. metaMu makes that check
// and the store one step against a poll's drops.
func (s *Service) putMeta(c *connector.Connector, st *verState, now time.Time, absent bool) {
	e := &metaEntry{conn: c, fetched: now}
	if absent {
		e.conn = nil
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	e.versioned = st != nil && s.ver.Load() == st
	if e.versioned {
		e.slot = connector.VersionSlot(c.Name)
	}
	prev, replaced := s.meta.Swap(c.Name, e)
	if absent {
		s.absent.Add(1)
	}
	if replaced && prev.(*metaEntry).conn == nil {
		s.absent.Add(-1)
	}
}

// bundle reads the connector's pinned secret version once per process.
func (s *Service) bundle(ctx context.Context, conn *connector.Connector) (secret.Bundle, error) {
	if conn.SecretID == "" {
		return secret.Bundle{}, nil
	}
	key := conn.SecretID + "@" + conn.SecretVersion
	s.bundlesMu.Lock()
	b, ok := s.bundles[key]
	s.bundlesMu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.Catalog.Bundle(ctx, conn)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("mint: %w", err)
	}
	s.bundlesMu.Lock()
	defer s.bundlesMu.Unlock()
	if s.bundles == nil || len(s.bundles) >= maxBundles {
		s.bundles = map[string]secret.Bundle{}
	}
	s.bundles[key] = b
	return b, nil
}
