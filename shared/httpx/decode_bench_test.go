package httpx

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// tokenRequest has the token function's request shape: the hot path.
type tokenRequest struct {
	Connector string `json:"connector"`
	Agent     string `json:"agent"`
}

// BenchmarkDecodeTokenRequest measures DecodeJSON on a token request body,
// the strict key checks included.
func BenchmarkDecodeTokenRequest(b *testing.B) {
	body := []byte(`{"connector":"GmailAPI","agent":"agent-1"}`)
	w := httptest.NewRecorder()
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/token", rd)
	r.Header.Set("Content-Type", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		r.Body = readCloser{rd}
		var req tokenRequest
		if err := DecodeJSON(w, r, &req); err != nil || req.Agent != "agent-1" {
			b.Fatalf("decode: %v", err)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
