package mint

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/metrics"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/tokencache"
)

// The fill: what happens when this process holds no usable credential.
// One fill runs per connector revision (singleflight); it reads the shared
// cache, takes the lease and mints, or waits for the instance that holds
// it (docs/architecture.md has the diagram).

// filled is a fill's outcome, shared by the callers of one flight.
type filled struct {
	cred  *Credential
	layer Layer
}

// fillMode is what a fill may answer with.
type fillMode uint8

const (
	// reuse: a usable credential from the shared cache, else a new one.
	reuse fillMode = iota
	// askProvider: always a new one from the provider (connectors-test),
	// which still fills the caches.
	askProvider
	// replace: a usable credential from the shared cache other than the
	// one an API refused, else a new one (Service.Renew).
	replace
)

// shared runs one fill per connector revision and mode in this process;
// callers that give up (ctx) leave the fill running for the others.
func (s *Service) shared(ctx context.Context, conn *connector.Connector, mode fillMode) (*Credential, Layer, error) {
	return s.sharedFill(ctx, conn, mode, nil)
}

// sharedFill is shared; in replace mode, rejected is the credential an API
// refused, and callers that report the same one share a flight.
func (s *Service) sharedFill(ctx context.Context, conn *connector.Connector, mode fillMode, rejected *Credential) (*Credential, Layer, error) {
	key := conn.Name + "\x00" + conn.Revision
	switch mode {
	case askProvider:
		key = "test\x00" + key
	case replace:
		key = "renew\x00" + key + "\x00" + rejected.identity()
	}
	ch := s.group.DoChan(key, func() (_ any, err error) {
		// The fill runs in singleflight's own goroutine, where a panic
		// would end the process with every request in flight.
		defer s.recoverFill(conn.Name, &err)
		fillCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(s.LeaseTTL, DefaultLeaseTTL)+5*time.Second)
		defer cancel()
		c, layer, err := s.fill(fillCtx, conn, mode, rejected)
		return filled{c, layer}, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, 0, r.Err
		}
		f := r.Val.(filled)
		return f.cred, f.layer, nil
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("mint: %s: %w", conn.Name, ctx.Err())
	}
}

// ErrPanic is what a fill that panicked returns to its callers (a 500).
var ErrPanic = errors.New("mint: internal error (recovered panic)")

// recoverFill turns a panic of a fill into ErrPanic and logs it with its
// stack. Only a runtime error's text is logged: a panic value of another
// kind could carry anything, a secret included.
func (s *Service) recoverFill(name string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	what := fmt.Sprintf("%T", p)
	if re, ok := p.(runtime.Error); ok {
		what = re.Error()
	}
	s.log().Error("mint: a fill panicked; its callers get 500", "connector", name, "panic", what, "stack", string(debug.Stack()))
	*err = fmt.Errorf("mint: %s: %w", name, ErrPanic)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// fill finds a usable credential in the shared cache, or takes the lease
// and mints one, or waits for the lease holder's result.
func (s *Service) fill(ctx context.Context, conn *connector.Connector, mode fillMode, rejected *Credential) (*Credential, Layer, error) {
	poll := orDefault(s.PollInterval, DefaultPollInterval)
	// The lease belongs to this fill, not to the instance: two fills of one
	// instance (callers that read different revisions, say, one from before
	// a rotation and one from after) must not both pass as the holder.
	holder := s.Instance + "/" + rand.Text()[:8]
	for {
		now := s.now()
		e, err := s.Cache.Load(ctx, conn.Name)
		if err != nil {
			return nil, 0, fmt.Errorf("mint: %s: %w", conn.Name, err)
		}
		if mode != askProvider {
			u, err := s.tryUse(ctx, conn, e, now)
			if u.cred != nil && u.cred.same(rejected) {
				u.cred = nil
			}
			if err != nil || u.cred != nil {
				return u.cred, LayerShared, err
			}
			if u.newer != nil {
				conn = u.newer
				continue
			}
		}
		if e.Leased(holder, now) {
			if err := clock.Sleep(ctx, poll); err != nil {
				return nil, 0, fmt.Errorf("mint: %s: waiting for another instance: %w", conn.Name, err)
			}
			continue
		}
		read, ok, err := s.Cache.Acquire(ctx, conn.Name, holder, now, now.Add(orDefault(s.LeaseTTL, DefaultLeaseTTL)))
		if err != nil {
			return nil, 0, fmt.Errorf("mint: %s: %w", conn.Name, err)
		}
		if !ok {
			continue
		}
		if mode != askProvider {
			// Another instance may have filled it between Load and Acquire.
			u, err := s.tryUse(ctx, conn, read, now)
			if u.cred != nil && u.cred.same(rejected) {
				u.cred = nil
			}
			if err != nil || u.cred != nil || u.newer != nil {
				_ = s.Cache.Release(ctx, conn.Name, holder)
				if err != nil || u.cred != nil {
					return u.cred, LayerShared, err
				}
				conn = u.newer
				continue
			}
		}
		c, err := s.mintLeased(ctx, conn, holder)
		return c, LayerMinted, err
	}
}

// mintLeased calls the provider while holding the lease, stores a rotated
// refresh token, then publishes the credential.
func (s *Service) mintLeased(ctx context.Context, conn *connector.Connector, holder string) (c *Credential, err error) {
	name := conn.Name
	defer func() {
		// Also on a panic (c is nil then): a lease left held would keep
		// every instance waiting until it expires.
		if c == nil {
			_ = s.Cache.Release(context.WithoutCancel(ctx), name, holder)
		}
	}()
	if conn.GrantType == connector.GrantRefreshToken {
		// The refresh token may have rotated since the metadata was cached;
		// using a superseded one would make the provider revoke the chain.
		fresh, err := s.connector(ctx, conn.Name, storedMeta)
		if err != nil {
			return nil, err
		}
		conn = fresh
	}
	conn, bundle, err := s.current(ctx, conn)
	if err != nil {
		return nil, err
	}
	minter := s.OAuth
	if m, ok := s.ByGrant[conn.GrantType]; ok {
		minter = m
	} else if !connector.IsOAuth(conn.GrantType) {
		return nil, fmt.Errorf("mint: %s: %s: %w", conn.Name, conn.GrantType, ErrUnsupported)
	}
	var minted *Minted
	var learned outcome
	start := s.now()
	for attempt := 1; ; attempt++ {
		asked := s.now()
		conn, bundle, minted, learned, err = s.mintWith(ctx, minter, conn, bundle)
		s.Metrics.Upstream(ctx, conn.Name, conn.GrantType, s.now().Sub(asked))
		if err == nil {
			break
		}
		// Stay well inside the lease: past it another instance may mint.
		if attempt >= mintAttempts || !retryable(conn, err) || s.now().Sub(start) > orDefault(s.LeaseTTL, DefaultLeaseTTL)/3 {
			s.recordMint(ctx, conn, err)
			return nil, fmt.Errorf("mint: %s: %w", conn.Name, err)
		}
		if conn.GrantType == connector.GrantRefreshToken {
			// Ask again with what is stored now, never with a token that
			// may have been superseded meanwhile.
			if conn, err = s.connector(ctx, conn.Name, storedMeta); err != nil {
				return nil, err
			}
			if conn, bundle, err = s.current(ctx, conn); err != nil {
				return nil, err
			}
		}
		if err := clock.Sleep(ctx, retryBackoff<<(attempt-1)); err != nil {
			return nil, fmt.Errorf("mint: %s: %w", conn.Name, err)
		}
	}
	if minted.RefreshToken != "" && minted.RefreshToken != bundle.RefreshToken {
		// Before anyone sees the access token: the new refresh token is the
		// only valid one now.
		// Storing it gets a budget of its own, not what is left of the
		// fill's: given up, the only valid refresh token would be lost.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(s.LeaseTTL, DefaultLeaseTTL))
		defer cancel()
		stored, err := s.Catalog.RotateRefreshToken(rctx, conn, bundle.RefreshToken, minted.RefreshToken)
		if err != nil {
			return nil, fmt.Errorf("mint: %s: store rotated refresh token: %w", conn.Name, err)
		}
		conn = stored
		s.putMeta(conn, nil, s.now(), false) // its own rotation moved the catalog version: held for the TTL
	}
	// Recorded once the rotated refresh token is stored: a health write is
	// a store transaction, and until then the only valid token is in memory.
	s.recordMint(ctx, conn, nil)
	cred := minted.Credential
	conn = s.settleMint(ctx, conn, bundle, learned, &cred)
	if cred.IssuedAt.IsZero() {
		cred.IssuedAt = s.now()
	}
	sealed, err := s.Sealer.Seal(ctx, conn.Name, conn.Revision, &cred)
	if err != nil {
		return nil, err
	}
	if err := s.Cache.Fill(ctx, conn.Name, holder, &tokencache.Entry{Revision: conn.Revision, Sealed: sealed, Expiry: cred.Expiry}); err != nil {
		return nil, fmt.Errorf("mint: %s: publish: %w", conn.Name, err)
	}
	s.localPut(conn, &cred)
	return &cred, nil
}

// use is what a shared cache entry offers a fill: a credential to answer
// with, or a newer connector to fill for instead; neither means mint.
type use struct {
	cred  *Credential
	newer *connector.Connector
}

// tryUse returns the credential of a shared entry usable for conn. When
// the entry is fresh but for another revision, either this instance's
// metadata is behind (a rotation or an admin change elsewhere) or the entry
// is stale: the store decides, and a newer connector is returned to retry
// with.
func (s *Service) tryUse(ctx context.Context, conn *connector.Connector, e *tokencache.Entry, now time.Time) (use, error) {
	if c := s.usable(ctx, conn, e, now); c != nil {
		return use{cred: c}, nil
	}
	if e == nil || len(e.Sealed) == 0 || e.Revision == conn.Revision || !now.Before(e.Expiry) {
		return use{}, nil
	}
	stored, err := s.connector(ctx, conn.Name, storedMeta)
	if err != nil {
		return use{}, err
	}
	if stored.Revision == conn.Revision {
		return use{}, nil
	}
	if !stored.Active {
		return use{}, fmt.Errorf("mint: %s: %w", conn.Name, ErrInactive)
	}
	return use{newer: stored}, nil
}

// Upstream retries: at most mintAttempts calls, backing off from
// retryBackoff with jitter.
const (
	mintAttempts = 3
	retryBackoff = 200 * time.Millisecond
)

// retryable reports whether asking the provider again is safe and useful:
// it answered that it failed (5xx, 429), so it issued nothing, or the
// connection was never made (outbound.ErrNotConnected; never the address
// guard's refusal, which would only be refused again). A reset after the
// request went out is retried only for grants without a refresh token: a
// provider that rotates may have consumed the token, and asking again with
// it would make it revoke the whole chain. A timeout is never retried.
func retryable(conn *connector.Connector, err error) bool {
	var ue *oauth.UpstreamError
	if errors.As(err, &ue) {
		return ue.Status >= 500 || ue.Status == http.StatusTooManyRequests
	}
	if errors.Is(err, outbound.ErrNotConnected) {
		return true
	}
	if conn.GrantType == connector.GrantRefreshToken {
		return false
	}
	return errors.Is(err, outbound.ErrUnreachable)
}

// usable opens a shared entry minted for conn's revision that is still
// outside its refresh margin, and keeps it in-process.
func (s *Service) usable(ctx context.Context, conn *connector.Connector, e *tokencache.Entry, now time.Time) *Credential {
	if e == nil || len(e.Sealed) == 0 || e.Revision != conn.Revision || !now.Before(e.Expiry) {
		return nil
	}
	var c Credential
	if err := s.Sealer.Open(ctx, conn.Name, conn.Revision, e.Sealed, &c); err != nil {
		return nil // a key change or corruption: mint anew
	}
	if !s.fresh(&c, now) {
		return nil
	}
	s.localPut(conn, &c)
	return &c
}

// fresh reports whether c is outside its refresh margin: the smaller of
// Margin and a quarter of its lifetime, so short-lived tokens are still
// reused.
func (s *Service) fresh(c *Credential, now time.Time) bool {
	return now.Before(s.freshUntil(c))
}

// freshUntil is when c stops being fresh: its expiry less the margin (a
// quarter of its life, if that is shorter).
func (s *Service) freshUntil(c *Credential) time.Time {
	margin := orDefault(s.Margin, DefaultMargin)
	if life := c.Expiry.Sub(c.IssuedAt); life > 0 && life/4 < margin {
		margin = life / 4
	}
	return c.Expiry.Add(-margin)
}

// localEntryAt returns conn's credential kept in-process, with the series
// its hits count in, if it is for conn's revision and fresh at now.
func (s *Service) localEntryAt(conn *connector.Connector, now time.Time) *localEntry {
	v, ok := s.local.Load(conn.Name)
	if !ok {
		return nil
	}
	e := v.(*localEntry)
	if e.revision == conn.Revision && now.Before(e.freshUntil) {
		return e
	}
	return nil
}

// localPut keeps c as conn's credential, replacing one of another
// revision, with the series its local hits count in.
func (s *Service) localPut(conn *connector.Connector, c *Credential) {
	hits := s.Metrics.Mint(conn.Name, conn.GrantType, metrics.OK, LayerLocal.String())
	s.local.Store(conn.Name, &localEntry{revision: conn.Revision, cred: c, freshUntil: s.freshUntil(c), hits: hits})
}
