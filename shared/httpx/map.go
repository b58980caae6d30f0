package httpx

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
)

// authReason is the auth package's explanation, which it keeps free of the
// token.
func authReason(err error, fallback string) string {
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Reason != "" {
		return ae.Reason
	}
	return fallback
}

// Map turns any error into its wire form. It is the only place where
// sentinel and backend errors meet HTTP statuses.
func Map(err error) *Error {
	var (
		e  *Error
		fe *connector.FieldError
		ue *oauth.UpstreamError
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: authReason(err, "a valid Google ID token is required"), Err: err}
	case errors.Is(err, auth.ErrPermissionDenied):
		return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Message: authReason(err, "the caller may not use this function"), Err: err}
	case errors.Is(err, auth.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "identity verification is unavailable; retry later", Err: err}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: fe.Field, Message: fe.Message, Err: err}
	case errors.Is(err, connector.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "connector not found", Err: err}
	case errors.Is(err, connector.ErrExists):
		return &Error{Status: http.StatusConflict, Code: CodeAlreadyExists, Field: "name", Message: "a connector with this name already exists", Err: err}
	case errors.Is(err, connector.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "revision", Message: "the connector was changed since it was read; get it again and retry", Err: err}
	case errors.Is(err, mint.ErrAgentNotAllowed):
		return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Field: "agent", Message: "this agent is not among the connector's agents", Err: err}
	case errors.Is(err, mint.ErrInactive):
		return &Error{Status: http.StatusConflict, Code: CodeFailedPrecondition, Message: "the connector is inactive; an admin must activate it before it mints credentials", Err: err}
	case errors.Is(err, mint.ErrUnsupported):
		return &Error{Status: http.StatusConflict, Code: CodeFailedPrecondition, Field: "grantType", Message: "this deployment cannot mint credentials of the connector's grant type", Err: err}
	case errors.As(err, &ue):
		msg := "the token provider refused to issue a credential"
		if errors.Is(err, oauth.ErrInvalidResponse) {
			msg = "the token provider's answer is not a usable token response"
		}
		return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Message: msg,
			Upstream: &Upstream{Status: ue.Status, Error: ue.Code, ErrorDescription: ue.Description}, Err: err}
	case errors.Is(err, oauth.ErrTimeout), errors.Is(err, oauth.ErrUnreachable):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Message: "the token provider did not answer in time or could not be reached", Err: err}
	case errors.Is(err, netguard.ErrForbidden):
		return &Error{Status: http.StatusConflict, Code: CodeFailedPrecondition, Field: "url", Message: "the connector's token endpoint is not an allowed destination (link-local, metadata, private or loopback address)", Err: err}
	case errors.Is(err, connector.ErrInvalidPageToken):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: "pageToken", Message: "is not a token this service issued", Err: err}
	case isUnavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "a backend is unavailable; retry later", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// Backends wrap gRPC statuses; FromError finds them through the wraps.
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}
