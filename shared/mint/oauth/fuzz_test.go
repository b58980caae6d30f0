package oauth_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/mint/oauth"
)

// FuzzParseTokenResponse: whatever a provider sends, parsing does not panic;
// a success has an access token, a token type and a future expiry; a failure
// is an UpstreamError that never quotes the body's access_token.
func FuzzParseTokenResponse(f *testing.F) {
	seeds := []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"access_token":"at","token_type":"bearer","expires_in":3600,"scope":"a b"}`},
		{200, "application/json", `{"access_token":"at","expires_in":"3600"}`},
		{200, "application/json", `{"access_token":"at","expires_in":0}`},
		{200, "application/json", `{"access_token":"at","expires_in":-1}`},
		{200, "application/json", `{"error":"invalid_grant","access_token":"at"}`},
		{200, "application/x-www-form-urlencoded", `access_token=at&token_type=bearer&expires_in=60`},
		{200, "text/plain", `{"access_token":"at"}`},
		{400, "application/json", `{"error":"invalid_client","error_description":"bad"}`},
		{302, "text/html", `<a href="http://169.254.169.254/">x</a>`},
		{500, "", ``},
		{200, "application/json", `{"access_token":"at","scope":["a","b"],"refresh_token":"rt"}`},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		h := http.Header{}
		h.Set("Content-Type", ct)
		r, err := oauth.ParseTokenResponse(status, h, bytes.NewReader(body), now, time.Hour)
		if err == nil {
			if r.AccessToken == "" || r.TokenType == "" || !r.Expiry.After(now) {
				t.Fatalf("accepted an unusable token: %v", r)
			}
			return
		}
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) {
			t.Fatalf("failure is not an UpstreamError: %v", err)
		}
		if i := bytes.Index(body, []byte(`"access_token":"`)); i >= 0 {
			rest := body[i+len(`"access_token":"`):]
			if j := bytes.IndexByte(rest, '"'); j >= 6 && strings.Contains(err.Error(), string(rest[:j])) {
				t.Fatalf("error quotes the access token: %v", err)
			}
		}
	})
}
