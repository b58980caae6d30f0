package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"connectors.dev/connectors/shared/netguard"

	"connectors.dev/connectors/shared/errkind"
)

// Transport error classes, wrapped by TransportError's results. Match them
// with errors.Is. Their texts still say "token endpoint": every endpoint
// reached so far is one, and log lines keep their wording.
var (
	// ErrTimeout: the endpoint did not answer (or finish answering) within
	// the time allowed, or the caller's deadline passed.
	ErrTimeout = errkind.New(errkind.UpstreamTimeout, "token endpoint timed out", "", notAnswered)
	// ErrUnreachable: the endpoint could not be reached (connection refused
	// or reset, DNS failure, TLS failure).
	ErrUnreachable = errkind.New(errkind.UpstreamTimeout, "token endpoint unreachable", "", notAnswered)
	// ErrNotConnected marks an ErrUnreachable whose connection was never
	// made (refused, DNS): no request went out, so asking again is safe.
	// The address guard's refusals are netguard.ErrForbidden instead.
	ErrNotConnected = errors.New("no connection was made")
)

// TransportError classifies a failure to get a (complete) response from an
// endpoint, the same way for every caller, so that all failures map alike:
//
//   - a destination refused by the address policy wraps netguard.ErrForbidden;
//   - a cancelled ctx gives context.Canceled;
//   - a timeout (of err, or ctx's deadline) wraps ErrTimeout;
//   - a failure to connect wraps ErrUnreachable and ErrNotConnected;
//   - anything else wraps ErrUnreachable.
//
// endpoint names the endpoint in the message; it should carry no query or
// credentials. A *url.Error in err is unwrapped to its cause, because its
// text repeats the request URL with its query. The message has no package
// prefix ("token request to <endpoint>: …"); callers add their own.
func TransportError(ctx context.Context, endpoint string, err error) error {
	cause := err
	var uerr *url.Error
	if errors.As(err, &uerr) {
		cause = uerr.Err
	}
	switch {
	case errors.Is(err, netguard.ErrForbidden):
		return fmt.Errorf("token request to %s refused: %w", endpoint, cause)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("token request to %s: %w", endpoint, context.Canceled)
	case IsTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("token request to %s: %w: %w", endpoint, ErrTimeout, cause)
	case isDialError(err):
		return fmt.Errorf("token request to %s: %w (%w): %w", endpoint, ErrUnreachable, ErrNotConnected, cause)
	default:
		return fmt.Errorf("token request to %s: %w: %w", endpoint, ErrUnreachable, cause)
	}
}

// isDialError reports whether err failed while connecting, before any
// byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// IsTimeout reports whether err is, or wraps, context.DeadlineExceeded or
// an error whose Timeout method reports true (a net.Error, say).
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// notAnswered is what a caller is told of ErrTimeout and ErrUnreachable,
// which both answer 504: the difference is for logs.
const notAnswered = "the token provider did not answer in time or could not be reached"
