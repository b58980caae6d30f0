package httpx

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/errkind"
)

// kindWire is each kind's status and wire code.
var kindWire = map[errkind.Kind]struct {
	status int
	code   string
}{
	errkind.InvalidArgument:    {http.StatusBadRequest, CodeInvalidArgument},
	errkind.NotFound:           {http.StatusNotFound, CodeNotFound},
	errkind.AlreadyExists:      {http.StatusConflict, CodeAlreadyExists},
	errkind.Conflict:           {http.StatusConflict, CodeConflict},
	errkind.PermissionDenied:   {http.StatusForbidden, CodePermissionDenied},
	errkind.Unauthenticated:    {http.StatusUnauthorized, CodeUnauthenticated},
	errkind.FailedPrecondition: {http.StatusConflict, CodeFailedPrecondition},
	errkind.Upstream:           {http.StatusBadGateway, CodeUpstreamError},
	errkind.UpstreamTimeout:    {http.StatusGatewayTimeout, CodeUpstreamTimeout},
	errkind.Unavailable:        {http.StatusServiceUnavailable, CodeUnavailable},
	errkind.TooLarge:           {http.StatusRequestEntityTooLarge, CodePayloadTooLarge},
	errkind.NeedsReconnect:     {http.StatusConflict, CodeNeedsReconnect},
}

// Map turns any error into its wire form. It is the only place where
// errors meet HTTP statuses; it knows errors by their kind (shared/errkind),
// given where they are made, so it imports no domain package.
func Map(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// Before the kinds: a backend call the caller gave up on carries the
	// cancellation under whatever kind the backend's client made of it.
	if isCancelled(err) {
		return &Error{Status: StatusClientClosedRequest, Code: CodeCancelled, Message: "the caller cancelled the request", Err: err}
	}
	k := errkind.Of(err)
	if k != nil && (k.ErrorKind() == errkind.Unknown || (k.ErrorKind() == errkind.Upstream && isUnavailable(err))) {
		// A failure its maker could not classify, or a provider failure
		// that is really an unavailable backend (a deadline, a gRPC
		// status): what the error chain says of itself decides.
		k = nil
	}
	if k != nil {
		if w, ok := kindWire[k.ErrorKind()]; ok {
			out := &Error{Status: w.status, Code: w.code, Err: err}
			if p, ok := k.(errkind.Public); ok {
				out.Message = p.PublicMessage()
			}
			if f, ok := k.(errkind.Fielded); ok {
				out.Field = f.ErrorField()
			}
			if u, ok := k.(errkind.UpstreamAnswer); ok {
				status, code, desc := u.UpstreamAnswer()
				out.Upstream = &Upstream{Status: status, Error: code, ErrorDescription: desc}
			}
			if out.Message == "" {
				out.Message = defaultMessage[k.ErrorKind()]
			}
			return out
		}
	}
	if isUnavailable(err) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "a backend is unavailable; retry later", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

// defaultMessage is told for a kinded error that says nothing public.
var defaultMessage = map[errkind.Kind]string{
	errkind.InvalidArgument:    "the request is invalid",
	errkind.NotFound:           "not found",
	errkind.AlreadyExists:      "already exists",
	errkind.Conflict:           "a concurrent change won; retry",
	errkind.PermissionDenied:   "permission denied",
	errkind.Unauthenticated:    "a valid Google ID token is required",
	errkind.FailedPrecondition: "the operation cannot be done in the current state",
	errkind.Upstream:           "the provider failed",
	errkind.UpstreamTimeout:    "the provider did not answer in time or could not be reached",
	errkind.Unavailable:        "a backend is unavailable; retry later",
	errkind.TooLarge:           "too large",
	errkind.NeedsReconnect:     "the connector needs an admin to connect its account again",
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
