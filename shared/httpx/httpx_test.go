package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
)

type sample struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int // 0 = success
		wantField   string
	}{
		{name: "ok", body: `{"name":"a","count":2}`},
		{name: "charset ok", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`},
		{name: "get", method: http.MethodGet, body: `{}`, wantStatus: 405},
		{name: "no content type", contentType: "-", body: `{}`, wantStatus: 415},
		{name: "text plain", contentType: "text/plain", body: `{}`, wantStatus: 415},
		{name: "latin1", contentType: "application/json; charset=latin1", body: `{}`, wantStatus: 415},
		{name: "unknown field", body: `{"name":"a","colour":"red"}`, wantStatus: 400, wantField: "colour"},
		{name: "wrong type", body: `{"count":"two"}`, wantStatus: 400, wantField: "count"},
		{name: "trailing data", body: `{"name":"a"} {"name":"b"}`, wantStatus: 400},
		{name: "trailing garbage", body: `{"name":"a"}x`, wantStatus: 400},
		{name: "empty", body: ``, wantStatus: 400},
		{name: "syntax", body: `{"name":`, wantStatus: 400},
		{name: "array", body: `[1]`, wantStatus: 400},
		{name: "too large", body: `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, wantStatus: 413},
		{name: "67 KiB", body: `{"name":"` + strings.Repeat("x", 67<<10) + `"}`, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/x", strings.NewReader(tt.body))
			switch tt.contentType {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			var v sample
			err := DecodeJSON(httptest.NewRecorder(), r, &v)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			e := Map(err)
			if e.Status != tt.wantStatus || e.Field != tt.wantField {
				t.Fatalf("got %d field %q (%v), want %d field %q", e.Status, e.Field, err, tt.wantStatus, tt.wantField)
			}
			if strings.Contains(e.Message, "xxxx") {
				t.Fatal("error message echoes the body")
			}
		})
	}
}

func TestDecodeJSONUnknownLength(t *testing.T) {
	// Chunked bodies carry no Content-Length; the reader limit must still hold.
	body := `{"name":"` + strings.Repeat("x", 70<<10) + `"}`
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	err := DecodeJSON(httptest.NewRecorder(), r, &sample{})
	if e := Map(err); e.Status != 413 || e.Code != CodePayloadTooLarge {
		t.Fatalf("got %v", err)
	}
}

func TestMap(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		field  string
	}{
		{&connector.FieldError{Field: "name", Message: "bad"}, 400, CodeInvalidArgument, "name"},
		{fmt.Errorf("x: %w", connector.ErrNotFound), 404, CodeNotFound, ""},
		{fmt.Errorf("x: %w", connector.ErrExists), 409, CodeAlreadyExists, "name"},
		{fmt.Errorf("x: %w", connector.ErrConflict), 409, CodeConflict, "revision"},
		{fmt.Errorf("firestore: get: %w", status.Error(codes.Unavailable, "down")), 503, CodeUnavailable, ""},
		{errors.New("boom"), 500, CodeInternal, ""},
	}
	for _, tt := range tests {
		e := Map(tt.err)
		if e.Status != tt.status || e.Code != tt.code || e.Field != tt.field {
			t.Errorf("Map(%v) = %d %s %q, want %d %s %q", tt.err, e.Status, e.Code, e.Field, tt.status, tt.code, tt.field)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, FieldError("name", "must not contain spaces"))
	if w.Code != 400 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
	var body struct {
		Error struct{ Code, Message, Field string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != CodeInvalidArgument || body.Error.Field != "name" || body.Error.Message == "" {
		t.Fatalf("body %s", w.Body)
	}
}
