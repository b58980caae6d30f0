package connector

import (
	"time"

	"connectors.dev/connectors/shared/secret"
)

// A connector's life after it is written: the client secret rotated
// without downtime (nextClientSecret), tokens that claim to live forever
// (maxTokenLifetime), and a grant the provider killed (needsReconnect).

// Bounds of maxTokenLifetime, in seconds: a minute (below it the margin
// before expiry would make every request mint) to a day.
const (
	MinTokenLifetime = 60
	MaxTokenLifetime = 86400
)

// SecretRotates reports whether the connector's client authentication
// uses a shared client secret, the only kind a next one can replace.
func (c *Connector) SecretRotates() bool {
	if !IsOAuth(c.GrantType) {
		return false
	}
	m := c.EffectiveClientAuthMethod()
	return m == AuthClientSecretPost || m == AuthClientSecretBasic
}

// NeedsReconnectAt returns c marked as needing a reconnect since at (in
// whole seconds, which every store keeps as given), or c itself when it is
// marked already (the first refusal's time stays).
func (c *Connector) NeedsReconnectAt(at time.Time) *Connector {
	if c.NeedsReconnect {
		return c
	}
	next := c.Clone()
	next.NeedsReconnect, next.NeedsReconnectSince = true, at.UTC().Truncate(time.Second)
	return next
}

// ClearNeedsReconnect removes the mark from c.
func (c *Connector) ClearNeedsReconnect() {
	c.NeedsReconnect, c.NeedsReconnectSince = false, time.Time{}
}

// applyLifecycle writes nextClientSecret and maxTokenLifetime. A new
// refresh token (an admin's, or the connect flow's) is a reconnect: the
// mark goes with the dead token.
func (in *Input) applyLifecycle(c *Connector, b *secret.Bundle) {
	if in.NextClientSecret != nil {
		b.NextClientSecret = *in.NextClientSecret
		c.HasNextClientSecret = b.NextClientSecret != ""
	}
	if in.MaxTokenLifetime != nil {
		c.MaxTokenLifetime = *in.MaxTokenLifetime
	}
	if in.RefreshToken != nil {
		c.ClearNeedsReconnect()
	}
}

// validateLifecycle checks nextClientSecret and maxTokenLifetime.
func validateLifecycle(c *Connector, b *secret.Bundle) *FieldError {
	if c.MaxTokenLifetime != 0 {
		if !IsOAuth(c.GrantType) {
			return fieldErr("maxTokenLifetime", "applies to OAuth grant types only; grant type %s has a lifetime of its own", c.GrantType)
		}
		if c.MaxTokenLifetime < MinTokenLifetime || c.MaxTokenLifetime > MaxTokenLifetime {
			return fieldErr("maxTokenLifetime", "must be a whole number of seconds from %d to %d (or 0 for none)", MinTokenLifetime, MaxTokenLifetime)
		}
	}
	if b != nil && len(b.NextClientSecret) > MaxClientSecretLen {
		return fieldErr("nextClientSecret", "must be at most %d bytes, as clientSecret", MaxClientSecretLen)
	}
	if !c.HasNextClientSecret {
		return nil
	}
	if !c.SecretRotates() {
		return fieldErr("nextClientSecret", "is used only with clientAuthMethod client_secret_post or client_secret_basic on an OAuth grant type: it replaces a shared client secret (clear it with \"\")")
	}
	if !c.HasClientSecret {
		return fieldErr("nextClientSecret", "needs a current clientSecret: it is tried only when the provider refuses that one")
	}
	return nil
}
