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

// BenchmarkDecodeLargeWrite decodes a files write of 8 MiB of base64: the
// key walk must stay a small part of the cost on large bodies.
func BenchmarkDecodeLargeWrite(b *testing.B) {
	body := []byte(`{"op":"write","uri":"gs://b/k","agent":"a","data":"` + string(bytes.Repeat([]byte("QUJD"), 2<<20)) + `"}`)
	w := httptest.NewRecorder()
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/files", rd)
	r.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		r.Body = readCloser{rd}
		var req struct {
			Op    string   `json:"op"`
			URI   string   `json:"uri"`
			Agent string   `json:"agent"`
			Data  rawField `json:"data"`
		}
		if err := DecodeJSONLimit(w, r, &req, 16<<20); err != nil {
			b.Fatalf("decode: %v", err)
		}
	}
}
