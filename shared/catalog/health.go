package catalog

import (
	"context"
	"sync"
	"time"

	"connectors.dev/connectors/shared/connector"
)

// Connector health (connector.Health): minting reports every mint that
// went to the provider (RecordMint), never a cache hit; the catalog keeps
// it in the store's health records (connector.HealthStore), which change
// no revision and no catalog version, and fills it into list and get.
//
// Writes are few: an instance writes a connector's record at once when an
// outcome implies another state than the one it last saw stored, and
// otherwise at most once per HealthInterval, carrying what it saw
// meanwhile (the count of failures included). What it has not written
// when it stops is lost: health is advice, not an audit log.

// DefaultHealthInterval is how often at most an instance writes a
// connector's health when its state does not change.
const DefaultHealthInterval = time.Minute

// DefaultHealthTimeout bounds a health write: minting's answer waits for it.
const DefaultHealthTimeout = 2 * time.Second

// HealthTransition hears a connector's health change state. It is called
// by the one instance whose write changed the stored state (the store's
// transaction decides: of instances that saw the same failure, exactly one
// sees from != to), once that write committed, with the record as now
// stored. from is ok for a connector never recorded. It must not block
// for long: minting's answer waits.
type HealthTransition func(ctx context.Context, conn *connector.Connector, from, to connector.HealthState, rec connector.HealthRecord)

// healthLocal is what this instance holds of one connector's health.
type healthLocal struct {
	mu      sync.Mutex
	known   connector.HealthState // the stored state as last written; "" before
	wrote   time.Time
	pending connector.HealthDelta
}

func (c *Catalog) healthInterval() time.Duration {
	if c.HealthInterval > 0 {
		return c.HealthInterval
	}
	return DefaultHealthInterval
}

// RecordMint records the outcome of a mint of conn that went to the
// provider: a success when code is "", else a failure with code (a short
// error code, never a provider's text), reconnect when the grant is dead.
// Best effort: a failed write is logged and its outcomes carried to the
// next one.
func (c *Catalog) RecordMint(ctx context.Context, conn *connector.Connector, code string, reconnect bool) {
	now := c.now().Truncate(time.Millisecond) // what every store keeps as given
	v, _ := c.health.LoadOrStore(conn.Name, &healthLocal{})
	l := v.(*healthLocal)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending.Add(now, code, reconnect)
	implied := connector.HealthOK
	if code != "" {
		implied = connector.HealthFailing
		if reconnect {
			implied = connector.HealthNeedsReconnect
		}
	}
	if l.known == implied && now.Sub(l.wrote) < c.healthInterval() {
		return
	}
	d := l.pending
	d.At = now
	timeout := c.HealthTimeout
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	before, after, err := c.Store.RecordHealth(c.record(ctx), conn.Name, d)
	if err != nil {
		c.log().Warn("catalog: could not record connector health; kept for the next write", "connector", conn.Name, "error", err.Error())
		return
	}
	l.pending, l.known, l.wrote = connector.HealthDelta{}, after.Current(), now
	if from, to := before.Current(), after.Current(); from != to {
		c.log().Info("catalog: connector health changed", "connector", conn.Name, "from", string(from), "to", string(to), "code", after.LastErrorCode)
		c.kick(ctx) // the transition's event, recorded with it
		if c.OnHealthTransition != nil {
			c.OnHealthTransition(ctx, conn, from, to, after)
		}
	}
}

// AttachHealth fills the Health of conns (as read from the store) from
// their records, in one read. A store that fails to answer leaves them ok
// with nothing known: health must not make an admin's list fail.
func (c *Catalog) AttachHealth(ctx context.Context, conns ...*connector.Connector) {
	recs := map[string]connector.HealthRecord{}
	if len(conns) > 0 {
		names := make([]string, len(conns))
		for i, conn := range conns {
			names[i] = conn.Name
		}
		got, err := c.Store.Health(ctx, names)
		if err != nil {
			c.log().Warn("catalog: could not read connector health", "error", err.Error())
		} else {
			recs = got
		}
	}
	for _, conn := range conns {
		conn.Health = recs[conn.Name].View(conn)
	}
}

// ListHealth is List with each connector's health filled, keeping only
// those in state when it is set. Filtering happens after the store's
// pages are read, so a filtered listing may read several of them (the
// whole catalog, at worst) to fill one; the page token is the last name
// returned, as the stores' own.
func (c *Catalog) ListHealth(ctx context.Context, opts connector.ListOptions, state connector.HealthState) (*connector.Page, error) {
	if state == "" {
		page, err := c.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		c.AttachHealth(ctx, page.Connectors...)
		return page, nil
	}
	size := opts.Size()
	out := &connector.Page{Connectors: []*connector.Connector{}}
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		c.AttachHealth(ctx, page.Connectors...)
		for i, conn := range page.Connectors {
			if conn.State != state {
				continue
			}
			out.Connectors = append(out.Connectors, conn)
			if len(out.Connectors) == size {
				if i < len(page.Connectors)-1 || page.NextPageToken != "" {
					out.NextPageToken = connector.EncodePageToken(conn.Name)
				}
				return out, nil
			}
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		opts.PageToken = page.NextPageToken
	}
}

// forgetHealth drops the health of a connector deleted or renamed away,
// so that a connector created later under its name starts afresh. Best
// effort, like the orphan records.
func (c *Catalog) forgetHealth(ctx context.Context, name string) {
	c.health.Delete(name)
	ctx, cancel := detach(ctx)
	defer cancel()
	if err := c.Store.DeleteHealth(ctx, name); err != nil {
		c.log().Warn("catalog: could not delete connector health", "connector", name, "error", err.Error())
	}
}
