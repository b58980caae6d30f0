package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/secret/smserver"
)

// project is any project ID: the emulators accept every one.
const project = "connectors-bench"

// cloud holds the deployed shape's backends: the Firestore emulator (named
// by FIRESTORE_EMULATOR_HOST) and an in-process Secret Manager server.
type cloud struct {
	sm     *smserver.Server
	smAddr string
	notes  *[]string
}

func (c *cloud) note(format string, args ...any) {
	*c.notes = append(*c.notes, fmt.Sprintf(format, args...))
}

func prefix(kind string) string {
	return "bench-" + strings.ToLower(rand.Text()[:8]) + "-" + kind + "-"
}

func (c *cloud) firestore(ctx context.Context, collectionPrefix string) (*firestore.Store, error) {
	s, err := firestore.New(ctx, project)
	if err != nil {
		return nil, err
	}
	s.CollectionPrefix = collectionPrefix
	return s, nil
}

func (c *cloud) secrets(ctx context.Context, secretPrefix string) (*secretmanager.Store, error) {
	s, err := secretmanager.New(ctx, project, smserver.ClientOptions(c.smAddr)...)
	if err != nil {
		return nil, err
	}
	s.Prefix = secretPrefix
	return s, nil
}

// instance is one token-function instance as platform wiring builds it
// (mint.NewService over Firestore and Secret Manager), on the fake clock.
func instance(cat *catalog.Catalog, cache *firestore.Store, clk *clock.Fake) *mint.Service {
	cfg := config.Config{
		AllowInsecureURLs:    true,
		AllowPrivateNetworks: true,
		TokenConnectTimeout:  config.DefaultTokenConnectTimeout,
		TokenTimeout:         config.DefaultTokenTimeout,
		DefaultTokenLifetime: config.DefaultDefaultTokenLifetime,
	}
	s := mint.NewService(cat, cache.TokenCache(), mint.KeyProvisioned, cfg)
	s.Now = clk.Now
	s.OAuth = mint.OAuth{Client: &oauth.Client{
		HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}}),
		Now:  clk.Now,
	}}
	return s
}

// fixture is one connector Bench on fresh collections and secrets, with
// the token-cache key provisioned as a deployment does.
type fixture struct {
	store   *firestore.Store
	secrets *secretmanager.Store
	cat     *catalog.Catalog
	clk     *clock.Fake
	prefix  string
	closers []func() error
}

func (f *fixture) Close() {
	for _, c := range f.closers {
		_ = c()
	}
}

func (c *cloud) fixture(ctx context.Context, kind string, p *provider) (*fixture, error) {
	f := &fixture{clk: clock.NewFake(), prefix: prefix(kind)}
	var err error
	if f.store, err = c.firestore(ctx, f.prefix); err != nil {
		return nil, err
	}
	f.closers = append(f.closers, f.store.Close)
	if f.secrets, err = c.secrets(ctx, f.prefix); err != nil {
		f.Close()
		return nil, err
	}
	f.closers = append(f.closers, f.secrets.Close)
	if err := mint.ProvisionKey(ctx, f.secrets); err != nil {
		f.Close()
		return nil, err
	}
	f.cat = &catalog.Catalog{Store: f.store, Secrets: f.secrets, Options: connector.Options{AllowInsecureURLs: true}, Now: f.clk.Now}
	in := &connector.Input{
		Name: ptr("Bench"), URL: ptr(p.URL()), GrantType: ptr(connector.GrantClientCredentials),
		ClientID: ptr("bench-client"), ClientSecret: ptr("bench-client-secret"), Agents: ptr([]string{"bench"}),
	}
	if _, err := f.cat.Create(ctx, in, "bench"); err != nil {
		f.Close()
		return nil, fmt.Errorf("create connector: %w", err)
	}
	return f, nil
}

func ptr[T any](v T) *T { return &v }

// singleUpstream is row 2: 4 instances (each its own Firestore client on
// the same collections) × 250 concurrent Token calls for an expired token,
// counting provider calls; the baseline is the naive loop, one token
// request per call, run against the same provider.
func (c *cloud) singleUpstream(ctx context.Context) Row {
	const instances, perInstance = 4, 250
	row := Row{ID: "2", Measure: fmt.Sprintf("upstream calls, %d instances × %d concurrent mints of an expired token", instances, perInstance),
		Goal: Goal{Op: "==", Value: 1, Text: "exactly 1"}}
	p := newProvider(3600)
	defer p.Close()
	f, err := c.fixture(ctx, "upstream", p)
	if err != nil {
		row.Err = err
		return row
	}
	defer f.Close()
	var svcs []*mint.Service
	for i := range instances {
		store := f.store
		if i > 0 {
			if store, err = c.firestore(ctx, f.prefix); err != nil {
				row.Err = err
				return row
			}
			defer store.Close()
		}
		cat := &catalog.Catalog{Store: store, Secrets: f.secrets, Options: f.cat.Options, Now: f.clk.Now}
		svcs = append(svcs, instance(cat, store, f.clk))
	}
	if _, err := svcs[0].Token(ctx, "Bench", "bench"); err != nil {
		row.Err = fmt.Errorf("first mint: %w", err)
		return row
	}
	f.clk.Advance(2 * time.Hour) // expired everywhere
	p.setDelay(50 * time.Millisecond)
	before := p.calls.Load()
	tokens, err := burst(ctx, svcs, perInstance)
	if err != nil {
		row.Err = err
		return row
	}
	calls := p.calls.Load() - before
	c.note("row 2: %d upstream call(s), %d distinct token(s) among %d answers", calls, len(tokens), instances*perInstance)

	// The naive way: every call is a token request.
	conn, err := f.cat.Get(ctx, "Bench")
	if err != nil {
		row.Err = err
		return row
	}
	bundle, err := f.cat.Bundle(ctx, conn)
	if err != nil {
		row.Err = err
		return row
	}
	naive := svcs[0].OAuth
	before = p.calls.Load()
	if err := parallel(instances*perInstance, 100, func(int) error {
		_, err := naive.Mint(ctx, conn, bundle)
		return err
	}); err != nil {
		row.Err = fmt.Errorf("naive loop: %w", err)
		return row
	}
	naiveCalls := p.calls.Load() - before
	row.Figure, row.FigureText = float64(calls), fmt.Sprintf("%d call(s)", calls)
	row.Baseline, row.BaselineText = float64(naiveCalls), fmt.Sprintf("%s calls, naive (measured)", thousands(naiveCalls))
	return row
}

// burst starts n concurrent Token calls on each instance at once and
// returns the distinct access tokens answered.
func burst(ctx context.Context, svcs []*mint.Service, n int) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		tokens = map[string]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for _, s := range svcs {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := s.Token(ctx, "Bench", "bench")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				tokens[c.AccessToken]++
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d mints failed, first: %w", len(errs), n*len(svcs), errs[0])
	}
	return tokens, nil
}

// parallel runs fn(0..n-1) on workers goroutines; the first error stops it.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// secretAccesses is row 3: AccessSecretVersion calls to the Secret Manager
// server during n Token calls on one instance, the fake clock jumping past
// the token's expiry every n/remints calls; the baseline reads the bundle
// on every mint, as the naive way does.
func (c *cloud) secretAccesses(ctx context.Context, n, remints int) Row {
	row := Row{ID: "3", Measure: fmt.Sprintf("Secret Manager accesses per %s mints, one instance", thousands(int64(n))),
		Goal: Goal{Op: "<=", Value: 2, Text: "≤ 1 per secret version (TTL: none, immutable) = 2"}}
	p := newProvider(3600)
	defer p.Close()
	f, err := c.fixture(ctx, "secrets", p)
	if err != nil {
		row.Err = err
		return row
	}
	defer f.Close()
	svc := instance(f.cat, f.store, f.clk)
	every := max(n/remints, 1)
	calls0, access0 := p.calls.Load(), c.sm.Calls("AccessSecretVersion")
	for i := range n {
		if i > 0 && i%every == 0 {
			f.clk.Advance(2 * time.Hour)
		}
		if _, err := svc.Token(ctx, "Bench", "bench"); err != nil {
			row.Err = fmt.Errorf("mint %d: %w", i, err)
			return row
		}
	}
	accesses := int64(c.sm.Calls("AccessSecretVersion") - access0)
	c.note("row 3: %s mints, %d provider calls (re-mints), %d AccessSecretVersion", thousands(int64(n)), p.calls.Load()-calls0, accesses)

	// The naive way: read the connector's secret for every mint.
	conn, err := f.cat.Get(ctx, "Bench")
	if err != nil {
		row.Err = err
		return row
	}
	naive := svc.OAuth
	access0 = c.sm.Calls("AccessSecretVersion")
	if err := parallel(n, 16, func(int) error {
		b, err := f.secrets.Get(ctx, conn.SecretID, conn.SecretVersion)
		if err != nil {
			return err
		}
		_, err = naive.Mint(ctx, conn, b)
		return err
	}); err != nil {
		row.Err = fmt.Errorf("naive loop: %w", err)
		return row
	}
	naiveAccesses := int64(c.sm.Calls("AccessSecretVersion") - access0)
	row.Figure, row.FigureText = float64(accesses), fmt.Sprintf("%d accesses", accesses)
	row.Baseline, row.BaselineText = float64(naiveAccesses), fmt.Sprintf("%s accesses, naive (measured)", thousands(naiveAccesses))
	return row
}

// listScaling is row 5: median latency of List(agent, pageSize 50) over a
// collection of big connectors against one of small, the measured agent
// holding the same few connectors in both, on the Firestore emulator.
func (c *cloud) listScaling(ctx context.Context, big, small, mine, runs int) Row {
	row := Row{ID: "5", Measure: fmt.Sprintf("connectors-list by agent (%d of theirs, page 50): %s vs %d in the store, median of %d",
		mine, thousands(int64(big)), small, runs),
		Goal: Goal{OnRatio: true, Op: "<=", Value: 1.5, Text: "ratio ≤ 1.5"}}
	bigStore, err := c.firestore(ctx, prefix("big"))
	if err != nil {
		row.Err = err
		return row
	}
	defer bigStore.Close()
	smallStore, err := c.firestore(ctx, prefix("small"))
	if err != nil {
		row.Err = err
		return row
	}
	defer smallStore.Close()
	return c.listRatio(ctx, row, "5", bigStore, smallStore, big, small, mine, runs)
}

// embeddedListScaling is row 5b: row 5 on the local run's embedded store
// (bbolt, with its own agent index), files on tmpfs where there is one so
// that filling it is not 10,000 fsyncs.
func (c *cloud) embeddedListScaling(ctx context.Context, big, small, mine, runs int) Row {
	row := Row{ID: "5b", Measure: fmt.Sprintf("the same on the local run's embedded store (bbolt), median of %d", runs),
		Goal: Goal{OnRatio: true, Op: "<=", Value: 1.5, Text: "ratio ≤ 1.5"}}
	parent := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		parent = "/dev/shm"
	}
	dir, err := os.MkdirTemp(parent, "connectors-bench-bolt-")
	if err != nil {
		row.Err = err
		return row
	}
	defer os.RemoveAll(dir)
	bigStore, err := boltstore.Open(filepath.Join(dir, "big.db"))
	if err != nil {
		row.Err = err
		return row
	}
	defer bigStore.Close()
	smallStore, err := boltstore.Open(filepath.Join(dir, "small.db"))
	if err != nil {
		row.Err = err
		return row
	}
	defer smallStore.Close()
	return c.listRatio(ctx, row, "5b", bigStore, smallStore, big, small, mine, runs)
}

// listRatio fills both stores and measures row's ratio of List latencies,
// with a control: the first page without the agent filter. When the
// control grows with the store as well, the backend scans the collection
// whatever the query (the Firestore emulator does; production Firestore
// and bbolt answer both from indexes).
func (c *cloud) listRatio(ctx context.Context, row Row, id string, bigStore, smallStore connector.Store, big, small, mine, runs int) Row {
	for _, s := range []struct {
		store connector.Store
		n     int
	}{{smallStore, small}, {bigStore, big}} {
		t0 := time.Now()
		if err := fill(ctx, s.store, s.n, mine); err != nil {
			row.Err = err
			return row
		}
		c.note("row %s: filled %s connectors in %s (32 concurrent Store.Create)", id, thousands(int64(s.n)), time.Since(t0).Round(100*time.Millisecond))
	}
	list := func(s connector.Store) (time.Duration, error) {
		t0 := time.Now()
		page, err := s.List(ctx, connector.ListOptions{Agent: measuredAgent, PageSize: 50})
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if len(page.Connectors) != mine || page.NextPageToken != "" {
			return 0, fmt.Errorf("list: %d connectors (next %q), want %d on one page", len(page.Connectors), page.NextPageToken, mine)
		}
		return d, nil
	}
	var bigTimes, smallTimes []time.Duration
	for i := range runs + 3 { // 3 unmeasured warm-up rounds
		for _, s := range []struct {
			store connector.Store
			times *[]time.Duration
		}{{smallStore, &smallTimes}, {bigStore, &bigTimes}} {
			d, err := list(s.store)
			if err != nil {
				row.Err = err
				return row
			}
			if i >= 3 {
				*s.times = append(*s.times, d)
			}
		}
	}
	bm, sm := median(bigTimes), median(smallTimes)
	var bigAll, smallAll []time.Duration
	for range 10 {
		for _, s := range []struct {
			store connector.Store
			times *[]time.Duration
		}{{smallStore, &smallAll}, {bigStore, &bigAll}} {
			t0 := time.Now()
			if _, err := s.store.List(ctx, connector.ListOptions{PageSize: 50}); err != nil {
				row.Err = err
				return row
			}
			*s.times = append(*s.times, time.Since(t0))
		}
	}
	ba, sa := median(bigAll), median(smallAll)
	c.note("row %s control, first page of 50 without the agent filter: %s with %s, %s with %d (ratio %.2f)",
		id, ms(ba), thousands(int64(big)), ms(sa), small, float64(ba)/float64(sa))
	row.Figure, row.FigureText = float64(bm), ms(bm)+" with "+thousands(int64(big))
	row.Baseline, row.BaselineText = float64(sm), ms(sm)+fmt.Sprintf(" with %d", small)
	return row
}

const measuredAgent = "bench-agent"

// fill creates n connectors, mine of them (spread evenly over the name
// order) for measuredAgent and the rest for 50 other agents.
func fill(ctx context.Context, s connector.Store, n, mine int) error {
	step := max(n/mine, 1)
	now := time.Now().UTC()
	return parallel(n, 32, func(i int) error {
		agents := []string{fmt.Sprintf("agent-%02d", i%50)}
		if i%step == 0 && i/step < mine {
			agents = []string{measuredAgent}
		}
		_, err := s.Create(ctx, &connector.Connector{
			Name:        fmt.Sprintf("conn-%05d", i),
			Active:      true,
			Agents:      agents,
			URL:         "https://oauth.example.com/token",
			GrantType:   connector.GrantClientCredentials,
			ContentType: connector.ContentTypeForm,
			ClientID:    fmt.Sprintf("client-%05d", i),
			CreatedAt:   now,
			UpdatedAt:   now,
			CreatedBy:   "bench",
			UpdatedBy:   "bench",
		})
		if errors.Is(err, connector.ErrExists) {
			return nil
		}
		return err
	})
}
