package mint

import (
	"context"
	"errors"
	"strconv"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/outbound"
)

// Health (catalog.RecordMint) hears only mints that went to the provider,
// from mintLeased: a cache hit, local or shared, never reaches it, so the
// hot path makes no health write.

// maxCodeLen bounds a recorded error code.
const maxCodeLen = 64

// healthCode is the short code recorded for a failed mint: the provider's
// RFC 6749 error code when it gave a well-formed one, else the failure's
// kind. Never the provider's description or body, which may echo what
// was sent.
func healthCode(err error) (code string, reconnect bool) {
	var re *ReconnectError
	if errors.As(err, &re) {
		return "invalid_grant", true
	}
	var ue *oauth.UpstreamError
	if errors.As(err, &ue) {
		if safeCode(ue.Code) {
			return ue.Code, false
		}
		if ue.Status != 0 {
			return "http_" + strconv.Itoa(ue.Status), false
		}
		return "invalid_response", false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", false
	case errors.Is(err, outbound.ErrNotConnected), errors.Is(err, outbound.ErrUnreachable):
		return "unreachable", false
	}
	if k := errkind.Of(err); k != nil {
		switch k.ErrorKind() {
		case errkind.UpstreamTimeout:
			return "timeout", false
		case errkind.FailedPrecondition, errkind.InvalidArgument:
			return "failed_precondition", false
		case errkind.PermissionDenied, errkind.Unauthenticated:
			return "permission_denied", false
		case errkind.Unavailable:
			return "unavailable", false
		}
	}
	return "upstream_error", false
}

// safeCode reports whether a provider's error code may be recorded as
// given: RFC 6749's codes are lowercase words with underscores.
func safeCode(s string) bool {
	if s == "" || len(s) > maxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// recordMint reports a mint that went to the provider to the catalog's
// health (err nil: a success).
func (s *Service) recordMint(ctx context.Context, conn *connector.Connector, err error) {
	if s.SkipHealth {
		return
	}
	if err == nil {
		s.Catalog.RecordMint(ctx, conn, "", false)
		return
	}
	code, reconnect := healthCode(err)
	s.Catalog.RecordMint(ctx, conn, code, reconnect)
}
