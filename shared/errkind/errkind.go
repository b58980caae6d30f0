// Package errkind gives errors their kind where they are made, so that the
// HTTP edge (shared/httpx) maps kinds to statuses without importing the
// packages that made them: a function links only the domain packages it
// uses, not every package whose errors some other function may return.
// This is the gocloud.dev gcerrors way. The package is a leaf: it imports
// only the standard library.
//
// An error says its kind by implementing Kinded; it may also say what the
// caller may be told (Public), which request field is at fault (Fielded)
// and, for a provider's refusal, what the provider answered (UpstreamAnswer).
// Sentinels are made with New.
package errkind

import "errors"

// Kind is a class of failure, one per wire error code.
type Kind uint8

// The kinds. Unknown is an internal error.
const (
	Unknown            Kind = iota
	InvalidArgument         // the request is wrong: 400
	NotFound                // 404
	AlreadyExists           // 409 already_exists
	Conflict                // a concurrent change won: 409 conflict
	PermissionDenied        // 403
	Unauthenticated         // 401
	FailedPrecondition      // the request is fine, the state is not: 409
	Upstream                // a provider refused or failed: 502
	UpstreamTimeout         // a provider was slow or unreachable: 504
	Unavailable             // a backend is unavailable: 503
	TooLarge                // 413
	// NeedsReconnect: the provider refused the stored grant for good
	// (invalid_grant); an admin must connect the account again: 409.
	NeedsReconnect
)

// Kinded is an error that knows its kind.
type Kinded interface {
	error
	ErrorKind() Kind
}

// Public is an error that knows what its caller may be told: never a
// secret, a token or a backend's internals.
type Public interface {
	PublicMessage() string
}

// Fielded is an error that names the request field at fault.
type Fielded interface {
	ErrorField() string
}

// UpstreamAnswer is an error that carries what a provider answered.
type UpstreamAnswer interface {
	UpstreamAnswer() (status int, code, description string)
}

// Error is a sentinel with a kind, and what callers of the HTTP functions
// are told of it.
type Error struct {
	kind    Kind
	text    string
	field   string
	message string
}

// New returns a sentinel of kind k. text is its Error(), for logs and
// wrapping; field (may be empty) and message are what a caller is told.
func New(k Kind, text, field, message string) *Error {
	return &Error{kind: k, text: text, field: field, message: message}
}

func (e *Error) Error() string { return e.text }

// ErrorKind implements Kinded.
func (e *Error) ErrorKind() Kind { return e.kind }

// ErrorField implements Fielded.
func (e *Error) ErrorField() string { return e.field }

// PublicMessage implements Public.
func (e *Error) PublicMessage() string { return e.message }

// Of returns the first error in err's chain that knows its kind, or nil.
func Of(err error) Kinded {
	var k Kinded
	if errors.As(err, &k) {
		return k
	}
	return nil
}
