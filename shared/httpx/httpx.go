// Package httpx is the HTTP edge every function shares: strict JSON request
// decoding with size limits, JSON responses, and the one place where errors
// become HTTP statuses and docs/api.md's error bodies.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxBodyBytes caps every JSON request body.
const MaxBodyBytes = 64 << 10

// Error codes of docs/api.md's wire format.
const (
	CodeInvalidArgument      = "invalid_argument"
	CodeUnauthenticated      = "unauthenticated"
	CodePermissionDenied     = "permission_denied"
	CodeNotFound             = "not_found"
	CodeAlreadyExists        = "already_exists"
	CodeConflict             = "conflict"
	CodeFailedPrecondition   = "failed_precondition"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeUpstreamError        = "upstream_error"
	CodeUpstreamTimeout      = "upstream_timeout"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
	CodeNeedsReconnect       = "needs_reconnect"
)

// Upstream describes a token provider's refusal.
type Upstream struct {
	Status           int    `json:"status"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// Error is an error with its wire form. Message and Field are shown to the
// caller and must never contain a secret; Err is the cause, only logged.
type Error struct {
	Status   int
	Code     string
	Message  string
	Field    string
	Upstream *Upstream
	Err      error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Field != "" {
		msg = e.Code + ": " + e.Field + ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds a 400 invalid_argument naming field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error struct {
		Code     string    `json:"code"`
		Message  string    `json:"message"`
		Field    string    `json:"field,omitempty"`
		Upstream *Upstream `json:"upstream,omitempty"`
	} `json:"error"`
}

// WriteJSON writes v with status. Responses may carry credentials, so no
// cache may keep them.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	// Assigned, not Set: these shared values cost no allocation per
	// response on the token hot path (net/http only reads them).
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

// WriteJSONBytes is WriteJSON for a body already rendered (as WriteJSON
// renders: no HTML escaping, a final newline), with the same headers.
func WriteJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError renders e as docs/api.md's error body.
func WriteError(w http.ResponseWriter, e *Error) {
	var body errorBody
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	body.Error.Field = e.Field
	body.Error.Upstream = e.Upstream
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="connectors"`)
	}
	WriteJSON(w, e.Status, body)
}

// DecodeJSON reads a POST body into v strictly: JSON content type, at most
// MaxBodyBytes, exactly one JSON value, every object key exactly a field's
// json name (no case variants, no unknown fields) and none repeated at any
// depth. It is the one decoder of every request body.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSONLimit(w, r, v, MaxBodyBytes)
}

// DecodeJSONLimit is DecodeJSON with a body limit of its own, for the few
// requests that carry data (a file's content) rather than settings. An
// *Error returned by a field's UnmarshalJSON reaches the caller as is.
func DecodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	body, err := ReadJSON(w, r, limit)
	if err != nil {
		return err
	}
	return decodeBody(body, v, limit)
}

// ReadJSON is the first half of DecodeJSONLimit: it checks the method,
// the content type and the size and returns the body, for a caller with a
// faster decoder of its own for the shapes it expects most, which must
// hand every other body to DecodeBytes.
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return ReadJSONInto(w, r, limit, nil)
}

// ReadJSONInto is ReadJSON reading into buf (from its length, none of
// which is kept) when the body fits in its capacity, for a caller that
// reuses buffers; a larger body gets a buffer of its own.
func ReadJSONInto(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, Errorf(http.StatusMethodNotAllowed, CodeInvalidArgument, "method %s is not allowed; use POST with a JSON body", r.Method)
	}
	// The map itself, not Header.Get: the key is canonical already, and
	// canonicalising it again was a hundredth of a token cache hit.
	var ct string
	if v := r.Header["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if err := checkContentType(ct); err != nil {
		return nil, err
	}
	if r.ContentLength > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body exceeds %d bytes", limit)
	}
	// A declared length within the limit is already what the server's body
	// reader stops at; only an undeclared one (chunked) needs the cap.
	body := r.Body
	if r.ContentLength < 0 {
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	b, err := readBody(body, r.ContentLength, limit, buf[:0])
	if err != nil {
		return nil, decodeError(err, limit)
	}
	return b, nil
}

// DecodeBytes decodes a whole request body already read into v by
// DecodeJSON's rules, for callers (and fuzz targets) that hold the bytes.
func DecodeBytes(body []byte, v any) error {
	return decodeBody(body, v, int64(len(body)))
}

// decodeBody checks body's keys against v's type, then decodes it.
func decodeBody(body []byte, v any, limit int64) error {
	end, err := checkKeys(body, v)
	if err != nil {
		if mapped := keysError(err); mapped != nil {
			return mapped
		}
		// Malformed: encoding/json reports where. Should it accept what the
		// walk could not read, refuse anyway: unchecked keys never pass.
		if err := json.Unmarshal(body, v); err != nil {
			return decodeError(err, limit)
		}
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body could not be decoded")
	}
	if end != len(body) {
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body must hold exactly one JSON object; found data after it")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return decodeError(err, limit)
	}
	return nil
}

// readBody reads all of r. A declared Content-Length sizes the buffer's
// last growth so a large body is not over-allocated, but the first
// allocation stays small: a client that declares 20 MiB and sends nothing
// holds only what it sent.
func readBody(r io.Reader, contentLength, limit int64, buf []byte) ([]byte, error) {
	const first = 64 << 10
	want := int64(-1) // the exact size to end at, when declared
	if contentLength >= 0 {
		want = contentLength + 1 // room to see EOF without growing
	}
	size := int64(first)
	if want > 0 && want < size {
		size = want
	}
	if int64(cap(buf)) < size {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			next := 2 * int64(cap(buf))
			if want > int64(cap(buf)) && want < next {
				next = want
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			// Only a body that is not a server's (whose reader stops at the
			// declared length) gets here without MaxBytesReader.
			return nil, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Header values every JSON response carries; never modified.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
	noSniff         = []string{"nosniff"}
)

func checkContentType(ct string) error {
	// The common spellings, without mime.ParseMediaType's allocations.
	if ct == "application/json" || ct == "application/json; charset=utf-8" {
		return nil
	}
	if ct == "" {
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type must be application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "charset must be utf-8")
	}
	return nil
}

// decodeError turns encoding/json's errors into field errors without
// echoing the input (it might hold a secret).
func decodeError(err error, limit int64) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		own    *Error
	)
	switch {
	case errors.As(err, &mbe):
		return Errorf(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body exceeds %d bytes", limit)
	case errors.As(err, &own):
		return own
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body must be a JSON object")
		}
		return FieldError(field, "must be a JSON %s", jsonKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return FieldError(field, "is not a known field")
	}
	return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body could not be decoded")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int32", "int64", "float64":
		return "number"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return goKind
}

// Query reads GET query parameters strictly: each known at most once, no
// unknown ones.
func Query(r *http.Request, known ...string) (url.Values, error) {
	q := r.URL.Query()
	for k, vs := range q {
		ok := false
		for _, name := range known {
			ok = ok || k == name
		}
		if !ok {
			return nil, FieldError(k, "is not a known parameter")
		}
		if len(vs) > 1 {
			return nil, FieldError(k, "is given more than once")
		}
	}
	return q, nil
}
