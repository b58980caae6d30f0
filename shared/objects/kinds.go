package objects

import (
	"errors"
	"fmt"

	"connectors.dev/connectors/shared/errkind"
)

// publicKind is what the HTTP edge makes of a sentinel: its kind, the
// request field at fault, and what the caller is told, with the URI (the
// caller's own input) in place of %s.
type publicKind struct {
	kind   errkind.Kind
	field  string
	format string
}

// publicKinds holds each sentinel's publicKind, filled by sentinel.
var publicKinds = map[error]publicKind{}

// sentinel makes a sentinel error whose text is text and records what the
// HTTP edge makes of it; on its own (no Error around it to name the URI)
// it is told as "the object".
func sentinel(k errkind.Kind, text, field, format string) error {
	err := errkind.New(k, text, field, fmt.Sprintf(format, "the object"))
	publicKinds[err] = publicKind{k, field, format}
	return err
}

// failedFormat is what the caller is told of a provider failure no
// sentinel classifies.
const failedFormat = "the storage provider failed on %s"

func (e *Error) public() (publicKind, bool) {
	for sentinel, p := range publicKinds {
		if errors.Is(e.Kind, sentinel) {
			return p, true
		}
	}
	return publicKind{}, false
}

// ErrorKind implements errkind.Kinded: the sentinel's kind; a limit is
// TooLarge; a failure no sentinel classifies is Upstream (the HTTP edge
// still tells a deadline or an unavailable backend apart).
func (e *Error) ErrorKind() errkind.Kind {
	var le *LimitError
	if errors.As(e.Kind, &le) {
		return errkind.TooLarge
	}
	if p, ok := e.public(); ok {
		return p.kind
	}
	return errkind.Upstream
}

// ErrorField implements errkind.Fielded.
func (e *Error) ErrorField() string {
	p, _ := e.public()
	return p.field
}

// PublicMessage implements errkind.Public. It names the URI, the caller's
// own input, and never the provider's error.
func (e *Error) PublicMessage() string {
	var le *LimitError
	if errors.As(e.Kind, &le) {
		return fmt.Sprintf("%s: the object is too large: %s", e.URI, le.Error())
	}
	if p, ok := e.public(); ok {
		return fmt.Sprintf(p.format, e.URI)
	}
	return fmt.Sprintf(failedFormat, e.URI)
}

// ErrorKind implements errkind.Kinded.
func (e *URIError) ErrorKind() errkind.Kind { return errkind.InvalidArgument }

// ErrorField implements errkind.Fielded.
func (e *URIError) ErrorField() string { return "uri" }

// PublicMessage implements errkind.Public.
func (e *URIError) PublicMessage() string { return e.Reason }

// ErrorKind implements errkind.Kinded.
func (e *LimitError) ErrorKind() errkind.Kind { return errkind.TooLarge }

// PublicMessage implements errkind.Public.
func (e *LimitError) PublicMessage() string { return "the object is too large: " + e.Error() }
