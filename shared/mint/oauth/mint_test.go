package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

func formOf(t *testing.T, r recorded) url.Values {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type = %q", ct)
	}
	v, err := url.ParseQuery(string(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkCommonHeaders(t *testing.T, r recorded) {
	t.Helper()
	if a := r.header.Get("Accept"); a != "application/json" {
		t.Errorf("Accept = %q", a)
	}
	if ua := r.header.Get("User-Agent"); !strings.Contains(ua, "connectors") {
		t.Errorf("User-Agent = %q, want the product named", ua)
	}
}

func TestBasicHeaderByteForByte(t *testing.T) {
	const (
		id  = "id:%+/@&=ü"
		sec = "se:%+/@&=ü cret"
	)
	// RFC 6749 §2.3.1 by hand: form-urlencode each, join with ":", base64.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(
		"id%3A%25%2B%2F%40%26%3D%C3%BC"+":"+"se%3A%25%2B%2F%40%26%3D%C3%BC+cret"))
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			respond(401, "application/json", `{"error":"invalid_client"}`)(w, r)
			return
		}
		respond(200, "application/json", okJSON)(w, r)
	})
	conn := ccConnector(p.URL)
	conn.ClientID, conn.HeaderAsPayload, conn.Scope = id, true, "a b"
	res, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{ClientSecret: sec})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if res.AccessToken != "at-123" {
		t.Errorf("AccessToken = %q", res.AccessToken)
	}
	r := p.last(t)
	checkCommonHeaders(t, r)
	got := formOf(t, r)
	want2 := url.Values{"grant_type": {"client_credentials"}, "scope": {"a b"}}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("body = %v, want %v (no client_id/client_secret with Basic)", got, want2)
	}
}

func TestFormBodyCredentialsScopeAndExtraParams(t *testing.T) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	conn := ccConnector(p.URL)
	conn.Scope = "read:all write"
	conn.ExtraParams = map[string]string{"audience": "https://api.example.com/", "resource": "urn:x&y=z"}
	if _, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{ClientSecret: "s&=+ %"}); err != nil {
		t.Fatalf("Mint: %v", err)
	}
	r := p.last(t)
	checkCommonHeaders(t, r)
	if a := r.header.Get("Authorization"); a != "" {
		t.Errorf("Authorization = %q, want none with credentials in the body", a)
	}
	want := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"s&=+ %"},
		"scope": {"read:all write"}, "audience": {"https://api.example.com/"}, "resource": {"urn:x&y=z"},
	}
	if got := formOf(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
}

func TestEmptySecretOmitted(t *testing.T) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	conn := ccConnector(p.URL)
	if _, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{}); err != nil {
		t.Fatalf("Mint: %v", err)
	}
	got := formOf(t, p.last(t))
	if _, ok := got["client_secret"]; ok || got.Get("client_id") != "client-1" {
		t.Errorf("body = %v, want client_id and no client_secret", got)
	}
}

func TestJSONOnlyEndpoint(t *testing.T) {
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			respond(415, "application/json", `{"error":"invalid_request","error_description":"JSON only"}`)(w, r)
			return
		}
		var params map[string]string
		if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
			respond(400, "application/json", `{"error":"invalid_request"}`)(w, r)
			return
		}
		respond(200, "application/json", okJSON)(w, r)
	})
	conn := ccConnector(p.URL)
	conn.ContentType = connector.ContentTypeJSON
	conn.Scope = "x y"
	conn.ExtraParams = map[string]string{"audience": "<aud>&"}
	c := testClient(5 * time.Second)
	if _, err := c.Mint(context.Background(), conn, secret.Bundle{ClientSecret: `s"e&c<`}); err != nil {
		t.Fatalf("Mint: %v", err)
	}
	r := p.last(t)
	checkCommonHeaders(t, r)
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body is not a JSON object of strings: %v", err)
	}
	want := map[string]string{"grant_type": "client_credentials", "client_id": "client-1", "client_secret": `s"e&c<`, "scope": "x y", "audience": "<aud>&"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	if strings.Contains(string(r.body), `\u0026`) {
		t.Errorf("body HTML-escapes: %s", r.body)
	}

	// The same endpoint refuses a form body: proof that the JSON path was
	// taken above.
	conn.ContentType = connector.ContentTypeForm
	_, err := c.Mint(context.Background(), conn, secret.Bundle{ClientSecret: "x"})
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 415 || ue.Code != "invalid_request" || ue.Description != "JSON only" {
		t.Fatalf("form body to JSON-only endpoint: err = %v", err)
	}
}

func TestPasswordGrantBody(t *testing.T) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	conn := &connector.Connector{
		Name: "Pw", URL: p.URL, GrantType: connector.GrantPassword, ClientID: "cid",
		Username: "alice@example.com", Scope: "openid",
	}
	if _, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{ClientSecret: "cs", Password: "p&ss w=rd"}); err != nil {
		t.Fatalf("Mint: %v", err)
	}
	want := url.Values{
		"grant_type": {"password"}, "username": {"alice@example.com"}, "password": {"p&ss w=rd"},
		"client_id": {"cid"}, "client_secret": {"cs"}, "scope": {"openid"},
	}
	if got := formOf(t, p.last(t)); !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
}

func TestRefreshGrant(t *testing.T) {
	conn := &connector.Connector{Name: "Rt", GrantType: connector.GrantRefreshToken, ClientID: "cid", HeaderAsPayload: true}
	b := secret.Bundle{ClientSecret: "cs", RefreshToken: "rt-old"}

	t.Run("not rotated", func(t *testing.T) {
		p := newProvider(t, respond(200, "application/json", okJSON))
		conn.URL = p.URL
		res, err := testClient(5*time.Second).Mint(context.Background(), conn, b)
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		if res.RefreshToken != "" {
			t.Errorf("RefreshToken = %q, want empty when the provider returned none", res.RefreshToken)
		}
		want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-old"}}
		if got := formOf(t, p.last(t)); !reflect.DeepEqual(got, want) {
			t.Errorf("body = %v, want %v", got, want)
		}
	})
	t.Run("rotated", func(t *testing.T) {
		p := newProvider(t, respond(200, "application/json", `{"access_token":"a","refresh_token":"rt-new","expires_in":60}`))
		conn.URL = p.URL
		res, err := testClient(5*time.Second).Mint(context.Background(), conn, b)
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		if res.RefreshToken != "rt-new" {
			t.Errorf("RefreshToken = %q, want rt-new", res.RefreshToken)
		}
	})
	t.Run("missing refresh token", func(t *testing.T) {
		p := newProvider(t, nil)
		conn.URL = p.URL
		if _, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{}); err == nil {
			t.Fatal("Mint without a refresh token succeeded")
		}
		if p.hits.Load() != 0 {
			t.Error("request sent without a refresh token")
		}
	})
}

func TestExtensionGrantPassedThrough(t *testing.T) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	conn := &connector.Connector{
		Name: "Jwt", URL: p.URL, GrantType: "urn:ietf:params:oauth:grant-type:jwt-bearer",
		ExtraParams: map[string]string{"assertion": "eyJ.x.y"},
	}
	if _, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{}); err != nil {
		t.Fatalf("Mint: %v", err)
	}
	r := p.last(t)
	want := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"eyJ.x.y"}}
	if got := formOf(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	if a := r.header.Get("Authorization"); a != "" {
		t.Errorf("Authorization = %q, want none without client credentials", a)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	for name, conn := range map[string]*connector.Connector{
		"special grant":  {Name: "X", URL: p.URL, GrantType: connector.GrantAWSIAM},
		"reserved extra": {Name: "X", URL: p.URL, GrantType: connector.GrantClientCredentials, ExtraParams: map[string]string{"grant_type": "password"}},
		"bad content":    {Name: "X", URL: p.URL, GrantType: connector.GrantClientCredentials, ContentType: "text/xml"},
		"no username":    {Name: "X", URL: p.URL, GrantType: connector.GrantPassword},
		"not a url":      {Name: "X", URL: "/token", GrantType: connector.GrantClientCredentials},
		"credentials":    {Name: "X", URL: strings.Replace(p.URL, "http://", "http://u:p@", 1), GrantType: connector.GrantClientCredentials},
		"ftp":            {Name: "X", URL: "ftp://127.0.0.1/", GrantType: connector.GrantClientCredentials},
	} {
		if _, err := testClient(time.Second).Mint(context.Background(), conn, secret.Bundle{ClientSecret: "test-client-secret"}); err == nil {
			t.Errorf("%s: Mint succeeded", name)
		}
	}
	if n := p.hits.Load(); n != 0 {
		t.Errorf("provider got %d requests, want 0", n)
	}
}

// TestResponses runs the response parser through Mint, end to end.
func TestResponses(t *testing.T) {
	now := testNow()
	cases := []struct {
		name                 string
		status               int
		contentType, body    string
		wantExpiry           time.Time
		wantType, wantScope  string
		wantStatus           int // UpstreamError.Status; 0: success
		wantCode, wantDesc   string
		wantInvalid          bool
		wantRefresh, wantTok string
	}{
		{name: "number", status: 200, contentType: "application/json", body: okJSON, wantExpiry: now.Add(time.Hour), wantType: "Bearer", wantTok: "at-123"},
		{name: "string expires_in", status: 200, contentType: "application/json; charset=utf-8", body: `{"access_token":"t","expires_in":"3600"}`, wantExpiry: now.Add(time.Hour), wantType: "Bearer", wantTok: "t"},
		{name: "missing expires_in", status: 200, contentType: "application/json", body: `{"access_token":"t","token_type":"Bearer"}`, wantExpiry: now.Add(42 * time.Minute), wantType: "Bearer", wantTok: "t"},
		{name: "zero expires_in", status: 200, contentType: "application/json", body: `{"access_token":"t","expires_in":0}`, wantExpiry: now.Add(42 * time.Minute), wantType: "Bearer", wantTok: "t"},
		{name: "negative expires_in", status: 200, contentType: "application/json", body: `{"access_token":"t","expires_in":-5}`, wantStatus: 200, wantInvalid: true},
		{name: "non-numeric expires_in", status: 200, contentType: "application/json", body: `{"access_token":"t","expires_in":"soon"}`, wantStatus: 200, wantInvalid: true},
		{name: "BEARER", status: 200, contentType: "application/json", body: `{"access_token":"t","token_type":"BEARER","expires_in":10}`, wantExpiry: now.Add(10 * time.Second), wantType: "Bearer", wantTok: "t"},
		{name: "scope and refresh", status: 201, contentType: "application/json", body: `{"access_token":"t","scope":"a b","refresh_token":"r","expires_in":10}`, wantExpiry: now.Add(10 * time.Second), wantType: "Bearer", wantScope: "a b", wantRefresh: "r", wantTok: "t"},
		{name: "form response", status: 200, contentType: "application/x-www-form-urlencoded; charset=utf-8", body: "access_token=gho_x&scope=repo%2Cgist&token_type=bearer", wantExpiry: now.Add(42 * time.Minute), wantType: "Bearer", wantScope: "repo,gist", wantTok: "gho_x"},
		{name: "text/plain form", status: 200, contentType: "text/plain", body: "access_token=t&expires_in=60", wantExpiry: now.Add(time.Minute), wantType: "Bearer", wantTok: "t"},
		{name: "200 with error", status: 200, contentType: "application/json", body: `{"error":"invalid_scope","error_description":"nope"}`, wantStatus: 200, wantCode: "invalid_scope", wantDesc: "nope"},
		{name: "200 form with error", status: 200, contentType: "application/x-www-form-urlencoded", body: "error=bad_verification_code&error_description=The+code+is+wrong", wantStatus: 200, wantCode: "bad_verification_code", wantDesc: "The code is wrong"},
		{name: "no access_token", status: 200, contentType: "application/json", body: `{"token_type":"bearer"}`, wantStatus: 200, wantInvalid: true},
		{name: "not JSON", status: 200, contentType: "application/json", body: `<html>hi</html>`, wantStatus: 200, wantInvalid: true},
		{name: "401 invalid_client", status: 401, contentType: "application/json", body: `{"error":"invalid_client","error_description":"Client authentication failed"}`, wantStatus: 401, wantCode: "invalid_client", wantDesc: "Client authentication failed"},
		{name: "400 form error", status: 400, contentType: "application/x-www-form-urlencoded", body: "error=invalid_grant", wantStatus: 400, wantCode: "invalid_grant"},
		{name: "500 html", status: 500, contentType: "text/html", body: "<h1>stack trace: client_secret=hunter2</h1>", wantStatus: 500, wantDesc: "500 Internal Server Error"},
		{name: "503 text", status: 503, contentType: "text/plain", body: "overloaded, secret hunter2", wantStatus: 503, wantDesc: "503 Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, respond(tc.status, tc.contentType, tc.body))
			res, err := testClient(5*time.Second).Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
			if n := p.hits.Load(); n != 1 {
				t.Errorf("provider got %d requests, want exactly 1 (no retries here)", n)
			}
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				if res.AccessToken != tc.wantTok || res.TokenType != tc.wantType || res.Scope != tc.wantScope ||
					res.RefreshToken != tc.wantRefresh || !res.Expiry.Equal(tc.wantExpiry) {
					t.Errorf("result = %+v (access %q, refresh %q), want type %q scope %q expiry %s", res, res.AccessToken, res.RefreshToken, tc.wantType, tc.wantScope, tc.wantExpiry)
				}
				return
			}
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *UpstreamError", err)
			}
			if ue.Status != tc.wantStatus || errors.Is(err, oauth.ErrInvalidResponse) != tc.wantInvalid {
				t.Errorf("err = %v (status %d, invalid %t)", err, ue.Status, errors.Is(err, oauth.ErrInvalidResponse))
			}
			if !tc.wantInvalid && (ue.Code != tc.wantCode || (tc.wantDesc != "" && ue.Description != tc.wantDesc)) {
				t.Errorf("UpstreamError = %+v, want code %q desc %q", ue, tc.wantCode, tc.wantDesc)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "<h1>") {
				t.Errorf("error echoes the body: %v", err)
			}
		})
	}
}

func TestSecretEchoRedacted(t *testing.T) {
	const (
		id       = "client:1"
		clientS  = "cl!ent+secret/&=ü"
		refreshT = "refresh.token-XYZ"
	)
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(clientS)))
	for _, headerAsPayload := range []bool{false, true} {
		t.Run(fmt.Sprint("headerAsPayload=", headerAsPayload), func(t *testing.T) {
			// The provider echoes everything it got, in several encodings,
			// with control characters between, and more than 300 chars.
			p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				desc := strings.Join([]string{
					"body=" + string(body), "raw=" + clientS, "rt=" + refreshT, "auth=" + r.Header.Get("Authorization"),
					"q=" + url.QueryEscape(clientS), "lower=" + strings.ToLower(url.QueryEscape(clientS)),
					"b64=" + base64.StdEncoding.EncodeToString([]byte(clientS)),
					"ctl=\x1b[31mred\x00\u202e", "pad=" + strings.Repeat("x", 400),
				}, "\n")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request " + refreshT, "error_description": desc})
			})
			conn := &connector.Connector{Name: "Echo", URL: p.URL, GrantType: connector.GrantRefreshToken, ClientID: id, HeaderAsPayload: headerAsPayload}
			_, err := testClient(5*time.Second).Mint(context.Background(), conn, secret.Bundle{ClientSecret: clientS, RefreshToken: refreshT})
			// The request body must not leak either.
			body := string(p.last(t).body)
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 400 {
				t.Fatalf("err = %v", err)
			}
			for _, leak := range []string{clientS, refreshT, basic, url.QueryEscape(clientS), strings.ToLower(url.QueryEscape(clientS)),
				base64.StdEncoding.EncodeToString([]byte(clientS)), body} {
				for _, s := range []string{err.Error(), ue.Code, ue.Description} {
					if strings.Contains(s, leak) {
						t.Errorf("%q leaks %q", s, leak)
					}
				}
			}
			t.Logf("sanitised: %v", err)
			if !strings.Contains(ue.Description, "[redacted]") || !strings.HasPrefix(ue.Code, "invalid_request [redacted]") {
				t.Errorf("nothing redacted: code %q desc %q", ue.Code, ue.Description)
			}
			if strings.ContainsAny(ue.Description, "\x1b\x00\n\u202e") {
				t.Errorf("control characters kept: %q", ue.Description)
			}
			if n := utf8.RuneCountInString(ue.Description); n > 301 {
				t.Errorf("description has %d runes, want it truncated", n)
			}
		})
	}
}

func TestResultStringRedacts(t *testing.T) {
	r := oauth.Result{AccessToken: "at-secret", RefreshToken: "rt-secret", TokenType: "Bearer", Scope: "s"}
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%+v", &r), fmt.Sprintf("%#v", r)} {
		if strings.Contains(s, "at-secret") || strings.Contains(s, "rt-secret") {
			t.Errorf("%s leaks a token", s)
		}
	}
}

func TestHangTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	cases := map[string]http.HandlerFunc{
		"no headers": func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		},
		"body stalls": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			io.WriteString(w, `{"access_token":`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			p := newProvider(t, h)
			start := time.Now()
			_, err := testClient(timeout).Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
			elapsed := time.Since(start)
			if !errors.Is(err, outbound.ErrTimeout) || errors.Is(err, outbound.ErrUnreachable) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v with a %v timeout", elapsed, timeout)
			}
			if p.hits.Load() != 1 {
				t.Errorf("provider got %d requests, want 1", p.hits.Load())
			}
		})
	}

	t.Run("caller deadline", func(t *testing.T) {
		p := newProvider(t, cases["no headers"])
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := testClient(10*time.Second).Mint(ctx, ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		if !errors.Is(err, outbound.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		p := newProvider(t, cases["no headers"])
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := testClient(10*time.Second).Mint(ctx, ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		if !errors.Is(err, context.Canceled) || errors.Is(err, outbound.ErrTimeout) || errors.Is(err, outbound.ErrUnreachable) {
			t.Fatalf("err = %v, want context.Canceled only", err)
		}
	})
}

func TestConnectionRefusedIsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = testClient(time.Second).Mint(context.Background(), ccConnector("http://"+addr+"/token"), secret.Bundle{ClientSecret: "test-client-secret"})
	if !errors.Is(err, outbound.ErrUnreachable) || !errors.Is(err, outbound.ErrNotConnected) || errors.Is(err, outbound.ErrTimeout) {
		t.Fatalf("err = %v, want ErrUnreachable and ErrNotConnected", err)
	}

	// The address guard's refusal is also a dial error, but it is no
	// failure to connect: asking again would be refused again.
	guarded := &oauth.Client{HTTP: outbound.NewClient(outbound.Options{Timeout: time.Second})}
	_, err = guarded.Mint(context.Background(), ccConnector("http://"+addr+"/token"), secret.Bundle{ClientSecret: "test-client-secret"})
	if !errors.Is(err, netguard.ErrForbidden) || errors.Is(err, outbound.ErrNotConnected) {
		t.Fatalf("guarded err = %v, want ErrForbidden and not ErrNotConnected", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	other := newProvider(t, respond(200, "application/json", okJSON))
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/token", http.StatusFound)
	})
	clients := map[string]*oauth.Client{
		"guarded client": testClient(5 * time.Second),
		// Even a client that would follow redirects does not here.
		"plain client": {HTTP: &http.Client{}},
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			_, err := c.Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || ue.Status != http.StatusFound {
				t.Fatalf("err = %v, want UpstreamError 302", err)
			}
			if n := other.hits.Load(); n != 0 {
				t.Fatalf("redirect target got %d requests", n)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	t.Run("2 MiB", func(t *testing.T) {
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`)
		})
		_, err := testClient(5*time.Second).Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || !errors.Is(err, oauth.ErrInvalidResponse) || ue.Status != 200 {
			t.Fatalf("err = %v, want invalid response", err)
		}
	})
	t.Run("endless", func(t *testing.T) {
		// If Mint buffered whole bodies it would never return.
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(strings.Repeat("a", 64<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		_, err := testClient(5*time.Second).Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		if !errors.Is(err, oauth.ErrInvalidResponse) {
			t.Fatalf("err = %v, want invalid response", err)
		}
	})
	t.Run("error status", func(t *testing.T) {
		p := newProvider(t, respond(502, "text/html", strings.Repeat("x", 2<<20)))
		_, err := testClient(5*time.Second).Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 502 || ue.Description != "502 Bad Gateway" {
			t.Fatalf("err = %v, want UpstreamError 502", err)
		}
	})
}

func TestDefaultClientAndLifetime(t *testing.T) {
	// The zero Client refuses loopback: its default HTTP client carries the
	// strict policy.
	p := newProvider(t, respond(200, "application/json", `{"access_token":"t"}`))
	var c oauth.Client
	if _, err := c.Mint(context.Background(), ccConnector(p.URL), secret.Bundle{}); err == nil {
		t.Fatal("zero Client reached a loopback provider")
	}
	if p.hits.Load() != 0 {
		t.Fatal("zero Client sent a request to loopback")
	}
	c2 := oauth.Client{HTTP: testClient(time.Second).HTTP}
	before := time.Now()
	res, err := c2.Mint(context.Background(), ccConnector(p.URL), secret.Bundle{})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Expiry.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("default lifetime gave expiry in %v, want 1h", d)
	}
}
