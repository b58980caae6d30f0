package connector

import (
	"context"
	"hash/fnv"
	"strconv"
)

// The catalog version: one small record that every mutation of the
// connectors (create, update, rename, delete, a rotated refresh token, which
// is an update) changes in the same transaction as the connector itself. An
// instance that caches connectors reads it once per metadata TTL instead of
// re-reading every connector it serves: when Seq is unchanged nothing
// changed, and when it moved, the slots that moved name the connectors to
// read again. Steady-state metadata reads then grow with instances, not
// with instances × busy connectors (docs/performance.md, "Cost at scale").
//
// A mutation only adds to counters (Seq, and the slot of each name it
// touches), so a store can write the record without reading it first: on
// Firestore, a transaction that read it would lock that one document
// against every other mutation, and a writer that died mid-transaction
// would hold every catalog write until its lock expired.

// VersionSlots is how many slots the connector names hash into: a change
// makes readers drop the cached connectors of its slot, about 1/256 of
// them, and the record stays a few KiB.
const VersionSlots = 256

// Version is the catalog version record.
type Version struct {
	// Seq counts the mutations since the record began; 0 when none was
	// ever recorded.
	Seq int64 `json:"seq" firestore:"seq"`
	// Slots counts the mutations per slot of the names they touched (a
	// rename touches both names), by slot number in decimal; absent is 0.
	Slots map[string]int64 `json:"slots" firestore:"slots"`
}

// VersionSlot is the slot of a connector name.
func VersionSlot(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return strconv.Itoa(int(h.Sum32() % VersionSlots))
}

// Bump returns v after mutations touching names, one each: the record a
// store writes (with its counters added to, where it can, rather than
// read and rewritten).
func (v Version) Bump(names ...string) Version {
	out := Version{Seq: v.Seq + int64(len(names)), Slots: make(map[string]int64, len(v.Slots)+len(names))}
	for k, n := range v.Slots {
		out.Slots[k] = n
	}
	for _, name := range names {
		out.Slots[VersionSlot(name)]++
	}
	return out
}

// ChangedSlots returns the slots whose count differs between prev and v:
// the connectors whose names hash there may have changed since prev.
func (v *Version) ChangedSlots(prev *Version) map[string]bool {
	changed := map[string]bool{}
	for k, n := range v.Slots {
		if prev.Slots[k] != n {
			changed[k] = true
		}
	}
	for k, n := range prev.Slots {
		if v.Slots[k] != n {
			changed[k] = true
		}
	}
	return changed
}

// Versioned is a Store that keeps the catalog version in the same
// transaction as every mutation.
type Versioned interface {
	Store
	// Version returns the catalog version record (a zero Version when no
	// mutation was ever recorded). One document read.
	Version(ctx context.Context) (*Version, error)
}
