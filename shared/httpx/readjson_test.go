package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Without MaxBytesReader for a declared length, a body that carries more
// than it declared (possible only for a request not read by net/http's
// server, whose body reader stops at the declared length) is still capped.
func TestDeclaredLengthBodyStillCapped(t *testing.T) {
	body := `{"a":"` + strings.Repeat("x", 200) + `"}`
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = 10
	var v struct {
		A string `json:"a"`
	}
	err := DecodeJSONLimit(httptest.NewRecorder(), r, &v, 100)
	if e, ok := err.(*Error); !ok || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want 413", err)
	}
}
