package mint

import (
	"context"
	"errors"
	"net/http"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/secret"
)

// What one call to the provider may turn into, beyond the credential
// (docs/architecture.md, "The invalid_grant path"): the next client secret
// tried and promoted after invalid_client, the stored refresh token read
// again after invalid_grant, and the connector marked as needing a
// reconnect when the grant is dead. All of it runs under the lease, never
// on a cache hit.

// ReconnectError is the provider's invalid_grant for the refresh token
// the connector holds now (not a superseded one): the grant is dead, and
// only an admin connecting the account again (or giving a new refresh
// token) revives it. Agents get 409 needs_reconnect, with the provider's
// answer, instead of a 502 they could take for a passing failure.
type ReconnectError struct {
	Upstream *oauth.UpstreamError
}

func (e *ReconnectError) Error() string {
	return "the connector needs a reconnect: " + e.Upstream.Error()
}

// Unwrap returns the provider's refusal.
func (e *ReconnectError) Unwrap() error { return e.Upstream }

// ErrorKind implements errkind.Kinded.
func (e *ReconnectError) ErrorKind() errkind.Kind { return errkind.NeedsReconnect }

// PublicMessage implements errkind.Public.
func (e *ReconnectError) PublicMessage() string {
	return "the provider refused the connector's refresh token (invalid_grant): the grant is revoked or expired; an admin must connect the account again (Reconnect in the console, or a new refreshToken)"
}

// UpstreamAnswer implements errkind.UpstreamAnswer.
func (e *ReconnectError) UpstreamAnswer() (int, string, string) { return e.Upstream.UpstreamAnswer() }

// deadGrant wraps err, the provider's invalid_grant, as a ReconnectError.
func deadGrant(err error) error {
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) {
		return err
	}
	return &ReconnectError{Upstream: ue}
}

// outcome is what mintWith learned besides the credential.
type outcome struct {
	// promote: the next client secret worked where the current one was
	// refused; current is the refused one.
	promote bool
	current string
}

// upstreamCode is the RFC 6749 §5.2 error code of a provider's refusal
// with one of statuses, or "".
func upstreamCode(err error, statuses ...int) string {
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) {
		return ""
	}
	for _, s := range statuses {
		if ue.Status == s {
			return ue.Code
		}
	}
	return ""
}

// mintWith asks the provider once with conn and b, and handles its
// refusals: invalid_client with a next client secret held → once more
// with that one; invalid_grant on a refresh_token connector → the stored
// refresh token read again, once more with it if another instance rotated
// it meanwhile, else the connector marked as needing a reconnect. It
// returns the connector and bundle the credential was minted with (conn
// and b on failure), and the provider's first refusal when both fail.
func (s *Service) mintWith(ctx context.Context, minter Minter, conn *connector.Connector, b secret.Bundle) (*connector.Connector, secret.Bundle, *Minted, outcome, error) {
	minted, err := minter.Mint(ctx, conn, b)
	if err == nil {
		return conn, b, minted, outcome{}, nil
	}
	if b.NextClientSecret != "" && conn.SecretRotates() &&
		upstreamCode(err, http.StatusUnauthorized, http.StatusBadRequest) == "invalid_client" {
		nb := b
		nb.ClientSecret, nb.NextClientSecret = b.NextClientSecret, b.ClientSecret
		m, nerr := minter.Mint(ctx, conn, nb)
		if nerr == nil {
			return conn, b, m, outcome{promote: true, current: b.ClientSecret}, nil
		}
		if upstreamCode(nerr, http.StatusUnauthorized, http.StatusBadRequest) != "invalid_client" {
			// The next secret got past client authentication and something
			// else failed (a dead grant, say): that answer tells the admin
			// what to fix, not the current secret's invalid_client.
			return conn, b, nil, outcome{}, nerr
		}
		return conn, b, nil, outcome{}, err
	}
	if conn.GrantType != connector.GrantRefreshToken || upstreamCode(err, http.StatusBadRequest, http.StatusUnauthorized) != "invalid_grant" {
		return conn, b, nil, outcome{}, err
	}
	// The stored one, not the cached metadata: another instance may have
	// rotated it after this one read it.
	fresh, ferr := s.connector(ctx, conn.Name, storedMeta)
	if ferr != nil {
		return conn, b, nil, outcome{}, err
	}
	fresh, fb, ferr := s.current(ctx, fresh)
	if ferr != nil {
		return conn, b, nil, outcome{}, err
	}
	if fb.RefreshToken != "" && fb.RefreshToken != b.RefreshToken {
		m, rerr := minter.Mint(ctx, fresh, fb)
		if rerr == nil {
			return fresh, fb, m, outcome{}, nil
		}
		if upstreamCode(rerr, http.StatusBadRequest, http.StatusUnauthorized) != "invalid_grant" {
			return fresh, fb, nil, outcome{}, rerr
		}
		err = rerr
	}
	if marked, merr := s.Catalog.MarkNeedsReconnect(ctx, fresh, fb.RefreshToken); merr != nil {
		s.log().Warn("mint: could not mark the connector as needing a reconnect", "connector", conn.Name, "error", merr.Error())
	} else {
		s.putMeta(marked, nil, s.now(), false) // not versioned: this write moved the catalog version
	}
	return conn, b, nil, outcome{}, deadGrant(err)
}

// settleMint finishes a successful mint once a rotated refresh token is
// stored: the next client secret that worked is promoted, a needsReconnect
// mark cleared, and the credential's expiry capped by maxTokenLifetime. A
// failure of the first two is logged, never the caller's: the credential
// is good, and the next mint tries again. It returns the connector as now
// stored.
func (s *Service) settleMint(ctx context.Context, conn *connector.Connector, b secret.Bundle, a outcome, cred *Credential) *connector.Connector {
	if a.promote {
		stored, promoted, err := s.Catalog.PromoteNextClientSecret(ctx, conn, a.current, b.NextClientSecret)
		if err != nil {
			s.log().Warn("mint: the next client secret worked but could not be promoted; it is tried again on the next refusal", "connector", conn.Name, "error", err.Error())
		} else {
			if promoted {
				s.log().Info("mint: the provider refused the client secret (invalid_client) and accepted the next one, now promoted", "connector", conn.Name)
			}
			conn = stored
			s.putMeta(conn, nil, s.now(), false)
		}
	}
	if conn.NeedsReconnect {
		if stored, err := s.Catalog.ClearNeedsReconnect(ctx, conn); err != nil {
			s.log().Warn("mint: could not clear needsReconnect after a successful mint", "connector", conn.Name, "error", err.Error())
		} else {
			conn = stored
			s.putMeta(conn, nil, s.now(), false)
		}
	}
	if conn.MaxTokenLifetime > 0 && cred.AWS == nil {
		issued := cred.IssuedAt
		if issued.IsZero() {
			issued = s.now()
		}
		if limit := issued.Add(time.Duration(conn.MaxTokenLifetime) * time.Second); cred.Expiry.IsZero() || cred.Expiry.After(limit) {
			cred.Expiry = limit
		}
	}
	return conn
}
