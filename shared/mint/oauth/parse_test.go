package oauth_test

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/mint/oauth"
)

func parse(status int, contentType, body string) (*oauth.Result, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return oauth.ParseTokenResponse(status, h, strings.NewReader(body), testNow(), 10*time.Minute)
}

func TestParseTokenResponseSuccess(t *testing.T) {
	now := testNow()
	cases := []struct {
		name, contentType, body string
		want                    oauth.Result
	}{
		{"decimal expires_in", "application/json", `{"access_token":"t","expires_in":3600.0}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(time.Hour)}},
		{"exponent expires_in", "application/json", `{"access_token":"t","expires_in":1e3}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(1000 * time.Second)}},
		{"null expires_in", "application/json", `{"access_token":"t","expires_in":null}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(10 * time.Minute)}},
		{"empty string expires_in", "application/json", `{"access_token":"t","expires_in":""}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(10 * time.Minute)}},
		{"huge expires_in capped", "application/json", `{"access_token":"t","expires_in":99999999999999999999}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(math.MaxInt32 * time.Second)}},
		{"other token type kept", "application/json", `{"access_token":"t","token_type":"N_A","expires_in":5}`,
			oauth.Result{AccessToken: "t", TokenType: "N_A", Expiry: now.Add(5 * time.Second)}},
		{"scope array", "application/json", `{"access_token":"t","scope":["a","b"],"expires_in":5}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Scope: "a b", Expiry: now.Add(5 * time.Second)}},
		{"no content type is JSON", "", `{"access_token":"t","expires_in":5}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(5 * time.Second)}},
		{"JSON labelled text/plain", "text/plain; charset=utf-8", ` {"access_token":"t","expires_in":5}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(5 * time.Second)}},
		{"null error is no error", "application/json", `{"access_token":"t","error":null,"expires_in":5}`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", Expiry: now.Add(5 * time.Second)}},
		{"form refresh", "application/x-www-form-urlencoded", `access_token=t&refresh_token=r&expires_in=7&token_type=Bearer`,
			oauth.Result{AccessToken: "t", TokenType: "Bearer", RefreshToken: "r", Expiry: now.Add(7 * time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parse(200, tc.contentType, tc.body)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if res.AccessToken != tc.want.AccessToken || res.TokenType != tc.want.TokenType || res.Scope != tc.want.Scope ||
				res.RefreshToken != tc.want.RefreshToken || !res.Expiry.Equal(tc.want.Expiry) {
				t.Errorf("got %v, want %v", res, tc.want)
			}
		})
	}
}

func TestParseTokenResponseInvalid(t *testing.T) {
	cases := []struct{ name, contentType, body string }{
		{"hex expires_in", "application/json", `{"access_token":"t","expires_in":"0x10"}`},
		{"Inf expires_in", "application/json", `{"access_token":"t","expires_in":"Inf"}`},
		{"negative string expires_in", "application/json", `{"access_token":"t","expires_in":"-1"}`},
		{"bool expires_in", "application/json", `{"access_token":"t","expires_in":true}`},
		{"form negative expires_in", "application/x-www-form-urlencoded", `access_token=t&expires_in=-3`},
		{"numeric access_token", "application/json", `{"access_token":12345}`},
		{"empty access_token", "application/json", `{"access_token":""}`},
		{"newline in access_token", "application/json", `{"access_token":"a\r\nX-Injected: 1"}`},
		{"non-ASCII access_token", "application/json", `{"access_token":"tökén"}`},
		{"control in refresh_token", "application/json", `{"access_token":"t","refresh_token":"r\u0000"}`},
		{"bad token_type", "application/json", `{"access_token":"t","token_type":"Bearer x"}`},
		{"bad scope", "application/json", `{"access_token":"t","scope":"a\nb"}`},
		{"object scope", "application/json", `{"access_token":"t","scope":{"a":1}}`},
		{"array body", "application/json", `[{"access_token":"t"}]`},
		{"null body", "application/json", `null`},
		{"empty body", "application/json", ``},
		{"repeated form access_token", "application/x-www-form-urlencoded", `access_token=a&access_token=b`},
		{"broken form", "application/x-www-form-urlencoded", `access_token=%zz`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(200, tc.contentType, tc.body)
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || !errors.Is(err, oauth.ErrInvalidResponse) || ue.Status != 200 || ue.Code != "" {
				t.Fatalf("err = %v, want an invalid-response UpstreamError", err)
			}
			for _, leak := range []string{"12345", "tökén", "X-Injected", "%zz"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error quotes the body: %v", err)
				}
			}
		})
	}
}

func TestParseTokenResponseErrors(t *testing.T) {
	cases := []struct {
		name              string
		status            int
		contentType, body string
		want              oauth.UpstreamError
	}{
		{"object error in 200", 200, "application/json", `{"error":{"code":7},"access_token":"t"}`,
			oauth.UpstreamError{Status: 200, Description: "200 OK"}},
		{"empty 404", 404, "", ``, oauth.UpstreamError{Status: 404, Description: "404 Not Found"}},
		{"unknown status", 599, "text/html", `<b>x</b>`, oauth.UpstreamError{Status: 599, Description: "HTTP status 599"}},
		{"description only", 400, "application/json", `{"error_description":"bad"}`, oauth.UpstreamError{Status: 400, Description: "bad"}},
		{"non-string description ignored", 400, "application/json", `{"error":"invalid_request","error_description":42}`,
			oauth.UpstreamError{Status: 400, Code: "invalid_request"}},
		{"text/plain prose", 401, "text/plain", `Unauthorized: bad client secret`, oauth.UpstreamError{Status: 401, Description: "401 Unauthorized"}},
		{"redirect", 307, "application/json", `{"error":"x"}`,
			oauth.UpstreamError{Status: 307, Description: "token endpoint redirected (307 Temporary Redirect); redirects are not followed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.status, tc.contentType, tc.body)
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || errors.Is(err, oauth.ErrInvalidResponse) {
				t.Fatalf("err = %v, want a refusal UpstreamError", err)
			}
			if ue.Status != tc.want.Status || ue.Code != tc.want.Code || ue.Description != tc.want.Description {
				t.Errorf("got %+v, want %+v", *ue, tc.want)
			}
		})
	}
}

func TestParseTokenResponseDefaultLifetime(t *testing.T) {
	res, err := oauth.ParseTokenResponse(200, http.Header{}, strings.NewReader(`{"access_token":"t"}`), testNow(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Expiry.Equal(testNow().Add(oauth.DefaultLifetime)) {
		t.Errorf("Expiry = %s, want now + DefaultLifetime", res.Expiry)
	}
}

// endless yields bytes forever and counts how many it gave.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += len(p)
	return len(p), nil
}

func TestParseTokenResponseReadsBounded(t *testing.T) {
	src := &endless{}
	_, err := oauth.ParseTokenResponse(200, http.Header{}, src, testNow(), 0)
	if !errors.Is(err, oauth.ErrInvalidResponse) {
		t.Fatalf("err = %v, want invalid response", err)
	}
	if src.n > oauth.MaxResponseBytes+1 {
		t.Errorf("read %d bytes, want at most %d", src.n, oauth.MaxResponseBytes+1)
	}

	// Exactly the limit is fine.
	body := `{"access_token":"t","pad":"` + strings.Repeat("x", oauth.MaxResponseBytes-len(`{"access_token":"t","pad":""}`)) + `"}`
	if len(body) != oauth.MaxResponseBytes {
		t.Fatalf("test body is %d bytes", len(body))
	}
	if _, err := parse(200, "application/json", body); err != nil {
		t.Errorf("body of exactly MaxResponseBytes: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestParseTokenResponseReadError(t *testing.T) {
	_, err := oauth.ParseTokenResponse(200, http.Header{}, failingReader{}, testNow(), 0)
	var ue *oauth.UpstreamError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v, want the read error", err)
	}
}
