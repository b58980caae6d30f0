package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/outbound"
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
	case errors.Is(err, outbound.ErrTimeout), errors.Is(err, outbound.ErrUnreachable):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Message: "the token provider did not answer in time or could not be reached", Err: err}
	case errors.Is(err, netguard.ErrForbidden):
		return &Error{Status: http.StatusConflict, Code: CodeFailedPrecondition, Field: "url", Message: "the connector's token endpoint is not an allowed destination (link-local, metadata, private or loopback address)", Err: err}
	// Before the storage errors: a storage call the caller gave up on
	// carries the cancellation under whatever kind the provider's client
	// made of it.
	case isCancelled(err):
		return &Error{Status: StatusClientClosedRequest, Code: CodeCancelled, Message: "the caller cancelled the request", Err: err}
	case errors.As(err, new(*objects.URIError)), errors.As(err, new(*objects.Error)), errors.Is(err, objects.ErrTooLarge):
		return mapObjects(err)
	case errors.Is(err, connector.ErrInvalidPageToken):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: "pageToken", Message: "is not a token this service issued", Err: err}
	case isUnavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "a backend is unavailable; retry later", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

// isCancelled reports a request given up by its caller: its context was
// cancelled, and backends report that as context.Canceled or gRPC's
// Canceled. (A deadline is not a cancellation: see isUnavailable.)
func isCancelled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Canceled
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

// mapObjects maps object-storage errors; their messages name the URI, which
// is the caller's own input.
func mapObjects(err error) *Error {
	var (
		ue *objects.URIError
		oe *objects.Error
		le *objects.LimitError
	)
	if errors.As(err, &ue) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: "uri", Message: ue.Reason, Err: err}
	}
	uri := "the object"
	if errors.As(err, &oe) {
		uri = oe.URI
	}
	switch {
	case errors.Is(err, objects.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "not found: " + uri, Err: err}
	case errors.Is(err, objects.ErrPermissionDenied):
		return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Message: "the storage provider denied access to " + uri, Err: err}
	case errors.Is(err, objects.ErrExists):
		return &Error{Status: http.StatusConflict, Code: CodeAlreadyExists, Field: "uri", Message: "already exists: " + uri + " (bucket names are global)", Err: err}
	case errors.As(err, &le):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: fmt.Sprintf("%s: the object is too large: %s", uri, le.Error()), Err: err}
	case errors.Is(err, objects.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: "the storage provider refused the object as too large: " + uri, Err: err}
	case errors.Is(err, objects.ErrUnsupported):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: "op", Message: "this operation is not supported for " + uri, Err: err}
	case errors.Is(err, objects.ErrCannotSign):
		return &Error{Status: http.StatusConflict, Code: CodeFailedPrecondition, Message: "the credentials in use cannot sign URLs for " + uri + "; use a connector with a service-account key", Err: err}
	case errors.Is(err, objects.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: "the storage provider rejected the request for " + uri + " as invalid", Err: err}
	case errors.Is(err, objects.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "a concurrent change to " + uri + " won; retry", Err: err}
	case errors.Is(err, objects.ErrUnavailable), isUnavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the storage provider is unavailable for " + uri + "; retry later", Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Message: "the storage provider failed on " + uri, Err: err}
}
