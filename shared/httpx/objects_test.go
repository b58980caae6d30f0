package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/objects"
)

func TestDecodeJSONLimit(t *testing.T) {
	body := `{"name":"` + strings.Repeat("x", 100<<10) + `"}`
	post := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	var v sample
	if err := DecodeJSONLimit(httptest.NewRecorder(), post(body), &v, 200<<10); err != nil || len(v.Name) != 100<<10 {
		t.Fatalf("within its own limit: %v", err)
	}
	err := DecodeJSONLimit(httptest.NewRecorder(), post(body), &v, 50<<10)
	if e := Map(err); e.Status != 413 || !strings.Contains(e.Message, "51200") {
		t.Fatalf("over its own limit: %v", err)
	}
	// The global limit is untouched.
	if e := Map(DecodeJSON(httptest.NewRecorder(), post(body), &v)); e.Status != 413 {
		t.Fatalf("DecodeJSON: %v", e)
	}
}

type strictField struct{}

func (*strictField) UnmarshalJSON([]byte) error { return FieldError("data", "must be base64") }

func TestDecodeJSONPassesUnmarshalerErrors(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"data":"!"}`))
	r.Header.Set("Content-Type", "application/json")
	var v struct {
		Data strictField `json:"data"`
	}
	if e := Map(DecodeJSON(httptest.NewRecorder(), r, &v)); e.Status != 400 || e.Field != "data" {
		t.Fatalf("got %+v", e)
	}
}

func TestMapObjects(t *testing.T) {
	wrap := func(kind error) error {
		return fmt.Errorf("files: %w", &objects.Error{Op: "read", URI: "gs://b/k", Kind: kind, Err: errors.New("provider detail")})
	}
	tests := []struct {
		err    error
		status int
		code   string
		field  string
	}{
		{wrap(objects.ErrNotFound), 404, CodeNotFound, ""},
		{wrap(objects.ErrPermissionDenied), 403, CodePermissionDenied, ""},
		{wrap(objects.ErrExists), 409, CodeAlreadyExists, "uri"},
		{wrap(objects.ErrTooLarge), 413, CodePayloadTooLarge, ""},
		{wrap(&objects.LimitError{Size: 9, Limit: 5}), 413, CodePayloadTooLarge, ""},
		{wrap(objects.ErrUnsupported), 400, CodeInvalidArgument, "op"},
		{wrap(objects.ErrCannotSign), 409, CodeFailedPrecondition, ""},
		{wrap(objects.ErrInvalid), 400, CodeInvalidArgument, ""},
		{wrap(objects.ErrConflict), 409, CodeConflict, ""},
		{wrap(objects.ErrUnavailable), 503, CodeUnavailable, ""},
		{wrap(nil), 502, CodeUpstreamError, ""},
		{&objects.URIError{Reason: "bad bucket"}, 400, CodeInvalidArgument, "uri"},
	}
	for _, tt := range tests {
		e := Map(tt.err)
		if e.Status != tt.status || e.Code != tt.code || e.Field != tt.field {
			t.Errorf("Map(%v) = %d %s %q, want %d %s %q", tt.err, e.Status, e.Code, e.Field, tt.status, tt.code, tt.field)
		}
		if _, ok := tt.err.(*objects.URIError); !ok && !strings.Contains(e.Message, "gs://b/k") {
			t.Errorf("Map(%v) message %q lacks the URI", tt.err, e.Message)
		}
		if strings.Contains(e.Message, "provider detail") {
			t.Errorf("Map(%v) message %q shows the provider's error", tt.err, e.Message)
		}
	}
}
