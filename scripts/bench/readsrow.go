package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
)

// Row 8: the metadata reads of the token function at scale. Each instance
// counts the Firestore documents its connector store reads (a Get is one,
// the catalog version one), in the emulator, while it serves busy
// connectors on a fake clock: every connector asked for every second, for
// 60 s. The figure is the catalog-version scheme; the baseline, measured in
// the same run on the same data, is the scheme before it (each instance
// re-reads each connector it serves once per MetadataTTL), obtained by
// hiding the store's Version from the instances. Midway an admin
// deactivates one connector through a catalog of its own, and every
// instance must refuse it within MetadataTTL.

// countingStore counts the documents an instance's connector store reads.
type countingStore struct {
	catalog.Store
	reads atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, name string) (*connector.Connector, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, name)
}

// versionedCounting is countingStore with the catalog version.
type versionedCounting struct{ *countingStore }

func (v versionedCounting) Version(ctx context.Context) (*connector.Version, error) {
	v.reads.Add(1)
	return v.Store.(connector.Versioned).Version(ctx)
}

func (c *cloud) metadataReads(ctx context.Context, instances, busy int, span time.Duration) Row {
	ttl := mint.DefaultMetadataTTL
	row := Row{ID: "8", Measure: fmt.Sprintf("Firestore metadata reads per instance per %s, %d instances × %d busy connectors, %s of fake time, none changing",
		ttl, instances, busy, span),
		Goal: Goal{Op: "<=", Value: 2, Text: fmt.Sprintf("≤ 2 per instance per %s", ttl)}}
	p := newProvider(3600 * 4) // outlives the run: every mint after the first is a cache hit
	defer p.Close()
	f, err := c.fixture(ctx, "reads", p)
	if err != nil {
		row.Err = err
		return row
	}
	defer f.Close()
	names := make([]string, busy)
	if err := parallel(busy, 8, func(i int) error {
		names[i] = fmt.Sprintf("Busy%03d", i)
		_, err := f.cat.Create(ctx, &connector.Input{
			Name: ptr(names[i]), URL: ptr(p.URL()), GrantType: ptr(connector.GrantClientCredentials),
			ClientID: ptr("bench-client"), ClientSecret: ptr("bench-client-secret"), Agents: ptr([]string{"bench"}),
		}, "bench")
		return err
	}); err != nil {
		row.Err = fmt.Errorf("create the busy connectors: %w", err)
		return row
	}
	run := func(versioned bool) (steady float64, edit string, err error) {
		var svcs []*mint.Service
		var counts []*countingStore
		for range instances {
			store, err := c.firestore(ctx, f.prefix)
			if err != nil {
				return 0, "", err
			}
			defer store.Close()
			cs := &countingStore{Store: store}
			var s catalog.Store = cs
			if versioned {
				s = versionedCounting{cs}
			}
			cat := &catalog.Catalog{Store: s, Secrets: f.secrets, Options: f.cat.Options, Now: f.clk.Now}
			svcs = append(svcs, instance(cat, store, f.clk))
			counts = append(counts, cs)
		}
		inactive := ""
		serveAll := func() error {
			return parallel(instances*busy, 32, func(i int) error {
				name := names[i%busy]
				_, err := svcs[i/busy].Token(ctx, name, "bench")
				if name == inactive && errors.Is(err, mint.ErrInactive) {
					return nil
				}
				return err
			})
		}
		if err := serveAll(); err != nil { // warm: every instance holds every connector
			return 0, "", err
		}
		f.clk.Advance(time.Second)
		var total int64
		for _, cs := range counts {
			cs.reads.Store(0)
		}
		for range int(span / time.Second) {
			f.clk.Advance(time.Second)
			if err := serveAll(); err != nil {
				return 0, "", err
			}
		}
		for _, cs := range counts {
			total += cs.reads.Swap(0)
		}
		steady = float64(total) / float64(instances) / (float64(span) / float64(ttl))

		// An edit made elsewhere: every instance refuses within the TTL.
		target := names[busy/2]
		if _, err := f.cat.Update(ctx, target, "", &connector.Input{Active: ptr(false)}, "bench"); err != nil {
			return 0, "", err
		}
		var seen time.Duration
		for step := time.Duration(0); ; step += time.Second {
			refusing := 0
			for _, s := range svcs {
				if _, err := s.Token(ctx, target, "bench"); errors.Is(err, mint.ErrInactive) {
					refusing++
				}
			}
			if refusing == instances {
				seen = step
				break
			}
			if step >= 2*ttl {
				return 0, "", fmt.Errorf("%d of %d instances still mint from %s %s after it was deactivated", instances-refusing, instances, target, step)
			}
			f.clk.Advance(time.Second)
		}
		// Back on for the next scheme.
		if _, err := f.cat.Update(ctx, target, "", &connector.Input{Active: ptr(true)}, "bench"); err != nil {
			return 0, "", err
		}
		f.clk.Advance(2 * ttl)
		return steady, fmt.Sprintf("deactivation seen by all %d instances after %s of fake time (bound %s)", instances, seen, ttl), nil
	}
	now, editNow, err := run(true)
	if err != nil {
		row.Err = fmt.Errorf("catalog version: %w", err)
		return row
	}
	before, editBefore, err := run(false)
	if err != nil {
		row.Err = fmt.Errorf("one read per connector per TTL: %w", err)
		return row
	}
	c.note("row 8, catalog version: %s", editNow)
	c.note("row 8, re-read per connector: %s", editBefore)
	c.note("row 8: at Firestore's $0.03 per 100,000 reads (us-central1), %d instances × %d busy connectors cost $%.2f a day re-reading each connector, $%.4f with the catalog version",
		instances, busy, perDay(before*float64(instances)/ttl.Seconds()), perDay(now*float64(instances)/ttl.Seconds()))
	row.Figure, row.FigureText = now, fmt.Sprintf("%.2f reads (catalog version)", now)
	row.Baseline, row.BaselineText = before, fmt.Sprintf("%.1f reads (each connector re-read per TTL)", before)
	return row
}

// perDay is the cost of reads per second, a day, at $0.03 per 100,000.
func perDay(readsPerSecond float64) float64 {
	return readsPerSecond * 86400 * 0.03 / 100000
}
