package catalog

import (
	"context"
	"errors"
	"fmt"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

// The writes minting makes to a connector besides a rotated refresh token:
// promoting the next client secret once the provider accepted it, and
// marking (or clearing) a dead grant. Like RotateRefreshToken they are
// conditional on the revision read, and a lost race only makes them read
// the connector again: an admin's concurrent edit is never overwritten,
// and what the admin changed decides whether the write still applies.

// retryWrite runs once against conn, and after each attempt that is not
// done reads the connector again and retries, with backoff, for as long as
// ctx lasts or up to attempts attempts (0: no bound). A connector deleted
// meanwhile ends it.
func (c *Catalog) retryWrite(ctx context.Context, op string, conn *connector.Connector, attempts int,
	once func(cur *connector.Connector) (stored *connector.Connector, done bool, err error)) (*connector.Connector, error) {
	cur := conn
	for attempt := 1; ; attempt++ {
		stored, done, err := once(cur)
		if done {
			return stored, err
		}
		if attempts > 0 && attempt >= attempts {
			return nil, fmt.Errorf("catalog: %s %s: gave up after %d attempts: %w", op, conn.Name, attempt, err)
		}
		if berr := backoff(ctx, attempt); berr != nil {
			return nil, fmt.Errorf("catalog: %s %s: gave up (%w) after: %w", op, conn.Name, berr, err)
		}
		c.log().Warn("catalog: a write lost a race or failed; retrying", "op", op, "connector", conn.Name, "attempt", attempt, "error", err.Error())
		next, gerr := c.Store.Get(ctx, conn.Name)
		switch {
		case errors.Is(gerr, connector.ErrNotFound):
			return nil, fmt.Errorf("catalog: %s %s: %w", op, conn.Name, gerr)
		case gerr == nil:
			cur = next
		}
	}
}

// commitBundle writes b as a new secret version of cur and, conditional on
// cur's revision, the metadata edit makes of a clone of cur pointing at it.
// done is false when another attempt, with the connector read again, may
// succeed.
func (c *Catalog) commitBundle(ctx context.Context, cur *connector.Connector, b secret.Bundle, edit func(next *connector.Connector)) (stored *connector.Connector, done bool, err error) {
	id, v, newSecret, err := c.writeSecret(ctx, cur.SecretID, cur.Name, b)
	if err != nil {
		return nil, false, err
	}
	next := cur.Clone()
	next.SecretID, next.SecretVersion = id, v
	edit(next)
	stored, err = c.Store.Update(ctx, cur.Name, cur.Revision, next)
	if !c.settle(ctx, cur.Name, id, v, newSecret, err) {
		return nil, false, err
	}
	if err == nil {
		return stored, true, nil
	}
	// Committed, or unknown: the next attempt reads what is stored and
	// finds the write done, or does it again.
	return nil, false, err
}

// PromoteNextClientSecret makes next, the connector's next client secret
// that the provider just accepted where it refused current, its client
// secret: one new secret version holding next as clientSecret and no next
// one. It applies only while the stored values are still current and next:
// when another instance promoted meanwhile, or an admin changed either,
// there is nothing to do. The rest of the bundle (a refresh token rotated
// meanwhile) is kept as stored. It returns the connector as now stored and
// whether this call promoted.
func (c *Catalog) PromoteNextClientSecret(ctx context.Context, conn *connector.Connector, current, next string) (*connector.Connector, bool, error) {
	promoted := false
	stored, err := c.retryWrite(ctx, "promote next client secret of", conn, 0, func(cur *connector.Connector) (*connector.Connector, bool, error) {
		b, err := c.Bundle(ctx, cur)
		if err != nil {
			return nil, false, err // most often: cur is stale, its version pruned
		}
		if next == "" || b.ClientSecret != current || b.NextClientSecret != next {
			return cur, true, nil
		}
		b.ClientSecret, b.NextClientSecret = next, ""
		stored, done, err := c.commitBundle(ctx, cur, b, func(n *connector.Connector) {
			n.HasClientSecret, n.HasNextClientSecret = true, false
		})
		promoted = done && err == nil
		return stored, done, err
	})
	if err != nil {
		return nil, false, err
	}
	if promoted {
		c.log().Info("catalog: promoted the next client secret", "connector", conn.Name, "revision", stored.Revision)
	}
	return stored, promoted, nil
}

// markAttempts bounds MarkNeedsReconnect and ClearNeedsReconnect: the
// mark is advice to admins, and minting's answer must not wait on it.
const markAttempts = updateAttempts

// MarkNeedsReconnect marks the connector as needing a reconnect: the
// provider refused dead, the refresh token it holds, as invalid_grant. A
// metadata-only write, conditional on the revision read; on a lost race it
// reads again and marks only while the stored refresh token is still dead
// (an admin who gave a new one, or an instance that rotated it, wins). It
// returns the connector as now stored, marked or not.
func (c *Catalog) MarkNeedsReconnect(ctx context.Context, conn *connector.Connector, dead string) (*connector.Connector, error) {
	return c.retryWrite(ctx, "mark needs reconnect", conn, markAttempts, func(cur *connector.Connector) (*connector.Connector, bool, error) {
		if cur.NeedsReconnect || cur.GrantType != connector.GrantRefreshToken {
			return cur, true, nil
		}
		b, err := c.Bundle(ctx, cur)
		if err != nil {
			return nil, false, err
		}
		if b.RefreshToken != dead {
			return cur, true, nil
		}
		stored, err := c.Store.Update(ctx, cur.Name, cur.Revision, cur.NeedsReconnectAt(c.now()))
		if err != nil {
			return nil, false, err
		}
		c.log().Warn("catalog: connector needs a reconnect: the provider refused its refresh token (invalid_grant)", "connector", cur.Name)
		return stored, true, nil
	})
}

// ClearNeedsReconnect removes the mark once a mint succeeded, conditional
// on the revision read like MarkNeedsReconnect.
func (c *Catalog) ClearNeedsReconnect(ctx context.Context, conn *connector.Connector) (*connector.Connector, error) {
	return c.retryWrite(ctx, "clear needs reconnect", conn, markAttempts, func(cur *connector.Connector) (*connector.Connector, bool, error) {
		if !cur.NeedsReconnect {
			return cur, true, nil
		}
		next := cur.Clone()
		next.ClearNeedsReconnect()
		stored, err := c.Store.Update(ctx, cur.Name, cur.Revision, next)
		if err != nil {
			return nil, false, err
		}
		return stored, true, nil
	})
}
