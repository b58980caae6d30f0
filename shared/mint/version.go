package mint

import (
	"context"
	"time"

	"connectors.dev/connectors/shared/connector"
)

// The catalog version poll. Every instance reads the catalog version
// (connector.Version, one small document) at most once per MetadataTTL,
// on the first request after the last read is that old; unchanged, its
// cached connectors stay valid for another TTL without a read each, and
// changed, the connectors it names are dropped and read again on their
// next request (a deleted or renamed one then answers not found). A store
// that keeps no version, or a poll that fails, leaves every entry valid
// for MetadataTTL from its own read, as before (and is asked again only
// after MetadataTTL).
//
// Staleness stays within MetadataTTL: a mutation committed at t is either
// seen by the poll that read the version after t, or the version held was
// read before t, and a poll reads it again at the first request after
// that read's time plus the TTL.

// verState is the catalog version read at at (taken before the read, so
// the TTL counts from a moment no later than what was read); v is nil when
// that read failed or the store keeps no version, which is then not asked
// again before at + MetadataTTL (a failing store is not polled on every
// request).
type verState struct {
	v  *connector.Version
	at time.Time
}

// versionKey is the poll's singleflight key; connector names hold no NUL.
const versionKey = "\x00catalog-version"

// version returns the catalog version read within MetadataTTL of now,
// polling for it if the one held is older; nil if the store keeps none or
// the poll failed.
func (s *Service) version(ctx context.Context, now time.Time) *verState {
	ttl := orDefault(s.MetadataTTL, DefaultMetadataTTL)
	if st := s.ver.Load(); st != nil && now.Sub(st.at) < ttl {
		return usable(st)
	}
	v, _, _ := s.group.Do(versionKey, func() (any, error) {
		if st := s.ver.Load(); st != nil && s.now().Sub(st.at) < ttl {
			return st, nil // a poll that finished just before this one
		}
		// Detached from the caller that started it: its hanging up would
		// fail the poll for every caller and hold that for a TTL.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		defer cancel()
		return s.poll(pctx), nil
	})
	st, _ := v.(*verState)
	return usable(st)
}

// usable is st if it holds a version, else nil.
func usable(st *verState) *verState {
	if st == nil || st.v == nil {
		return nil
	}
	return st
}

// poll reads the catalog version and drops the cached connectors that
// may have changed since the one held: those whose names hash into a slot
// that moved, or every one when no version was held.
func (s *Service) poll(ctx context.Context) *verState {
	at := s.now()
	v, ok, err := s.Catalog.Version(ctx)
	if !ok || err != nil {
		if err != nil {
			s.log().Warn("mint: reading the catalog version failed; cached connectors are read again after their TTL", "error", err.Error())
		}
		failed := &verState{at: at}
		s.ver.Store(failed)
		return failed
	}
	next := &verState{v: v, at: at}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	prev := s.ver.Load()
	// Stored first: a metadata read that started under prev and ends
	// after this is then not versioned (putMeta), whatever it read.
	s.ver.Store(next)
	known := prev != nil && prev.v != nil
	if known && prev.v.Seq == v.Seq {
		return next
	}
	var changed map[string]bool
	if known {
		changed = v.ChangedSlots(prev.v)
	}
	s.meta.Range(func(k, e any) bool {
		if m := e.(*metaEntry); m.versioned && (!known || changed[m.slot]) {
			s.dropMeta(k, m)
		}
		return true
	})
	return next
}
