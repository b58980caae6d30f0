package connectors_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/internal/functest"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/testenv"
)

// Secret values used across the suite; none may ever come back in a body
// or a log line.
const (
	gmailSecret  = "GOCSPX-gmail-client-secret-4f8a"
	gmailRefresh = "1//0gmail-refresh-token-77c1"
	otherSecret  = "other-client-secret-value-9d2e"
	newSecret    = "rotated-client-secret-value-31aa"
	passwordVal  = "correct horse battery staple"
)

var allSecrets = []string{gmailSecret, gmailRefresh, otherSecret, newSecret, passwordVal}

// env is the admin functions over one pair of backends, served over real
// loopback HTTP the way the local run serves them.
type env struct {
	t      *testing.T
	url    string
	cat    *catalog.Catalog
	logs   *logtest.Buffer
	client *functest.Client
	server *connectors.Server
}

func newEnv(t *testing.T, b testenv.Backends, authn connectors.Authenticator) *env {
	t.Helper()
	logs := &logtest.Buffer{}
	log := logging.New(logs)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log}
	if authn == nil {
		a, err := auth.New(auth.Config{Local: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		authn = a
	}
	s := &connectors.Server{Catalog: cat, Auth: authn, Log: log}
	client := functest.Serve(t, nil, s.Handlers())
	e := &env{t: t, url: client.URL, cat: cat, logs: logs, client: client, server: s}
	t.Cleanup(e.checkNoLeaks)
	return e
}

// do sends a request, the body kept for the leak check.
func (e *env) do(req *http.Request) (int, map[string]any) {
	e.t.Helper()
	resp, raw := e.client.Do(req)
	return resp.StatusCode, e.decode(req, resp, raw)
}

// call POSTs body (a value to encode, or a string sent as-is) to a function.
func (e *env) call(fn string, body any) (int, map[string]any) {
	e.t.Helper()
	resp, raw := e.client.Post(fn, body, "")
	return resp.StatusCode, e.decode(resp.Request, resp, raw)
}

func (e *env) decode(req *http.Request, resp *http.Response, raw []byte) map[string]any {
	e.t.Helper()
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: non-JSON response %d: %s", req.Method, req.URL.Path, resp.StatusCode, raw)
		}
	}
	return out
}

func (e *env) get(fn string, q url.Values) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"/"+fn+"?"+q.Encode(), nil)
	return e.do(req)
}

func (e *env) mustCall(fn string, body any, want int) map[string]any {
	e.t.Helper()
	code, out := e.call(fn, body)
	if code != want {
		e.t.Fatalf("%s: status %d, want %d: %v", fn, code, want, out)
	}
	return out
}

// checkNoLeaks searches every body and log line for every secret value and
// its encoded forms.
func (e *env) checkNoLeaks() {
	haystack := e.client.Bodies() + "\n" + e.logs.String()
	for _, s := range allSecrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)), url.QueryEscape(s)} {
			if strings.Contains(haystack, form) {
				e.t.Errorf("secret value (or its encoding %q) appears in a response body or log line", form)
			}
		}
	}
}

func gmailConnector(agents ...string) map[string]any {
	return map[string]any{
		"name":         "GmailAPI",
		"url":          "https://oauth2.googleapis.com/token",
		"clientId":     "1234.apps.googleusercontent.com",
		"clientSecret": gmailSecret,
		"grantType":    "refresh_token",
		"refreshToken": gmailRefresh,
		"contentType":  "application/x-www-form-urlencoded",
		"scope":        "https://www.googleapis.com/auth/gmail.send",
		"agents":       agents,
	}
}

func clientCreds(name string, agents ...string) map[string]any {
	return map[string]any{
		"name": name, "url": "https://auth.example.com/oauth/token", "grantType": "client_credentials",
		"clientId": "cid-" + name, "clientSecret": otherSecret, "agents": agents,
	}
}

// forEachBackend runs a scenario on the embedded backends and on the real
// servers (Firestore emulator, Secret Manager gRPC server).
func forEachBackend(t *testing.T, scenario func(t *testing.T, b testenv.Backends)) {
	for _, kind := range testenv.Kinds {
		t.Run(kind, func(t *testing.T) {
			scenario(t, testenv.New(t, kind))
		})
	}
}

func TestSeedGmailConnector(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		e := newEnv(t, b, nil)
		out := e.mustCall(connectors.FnCreate, gmailConnector("mailer"), http.StatusCreated)
		if out["hasClientSecret"] != true || out["hasRefreshToken"] != true || out["hasPassword"] != false {
			t.Fatalf("presence flags: %v", out)
		}
		for _, k := range []string{"clientSecret", "refreshToken", "password", "secretId", "SecretID"} {
			if _, ok := out[k]; ok {
				t.Fatalf("response carries %q: %v", k, out)
			}
		}
		if out["active"] != true || out["headerAsPayload"] != false || out["createdBy"] != auth.LocalDev || out["revision"] == "" {
			t.Fatalf("defaults/read-only fields: %v", out)
		}
		// The secrets went to the secret store, pinned by the metadata.
		c, err := b.Store.Get(context.Background(), "GmailAPI")
		if err != nil {
			t.Fatal(err)
		}
		bundle, err := e.cat.Bundle(context.Background(), c)
		if err != nil || bundle.ClientSecret != gmailSecret || bundle.RefreshToken != gmailRefresh {
			t.Fatalf("stored bundle wrong (err %v)", err)
		}
		// Same name again: 409 already_exists, and nothing changed.
		code, errBody := e.call(connectors.FnCreate, clientCreds("GmailAPI"))
		if code != http.StatusConflict || errCode(errBody) != "already_exists" {
			t.Fatalf("duplicate create: %d %v", code, errBody)
		}
		got := e.mustCall(connectors.FnGet, map[string]any{"name": "GmailAPI"}, http.StatusOK)
		if got["revision"] != out["revision"] || got["grantType"] != "refresh_token" {
			t.Fatalf("duplicate create changed the connector: %v", got)
		}
	})
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errField(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func names(body map[string]any) []string {
	var out []string
	list, _ := body["connectors"].([]any)
	for _, c := range list {
		out = append(out, c.(map[string]any)["name"].(string))
	}
	return out
}

func TestListByAgent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		e := newEnv(t, b, nil)
		e.mustCall(connectors.FnCreate, gmailConnector("mailer", "shared"), http.StatusCreated)
		e.mustCall(connectors.FnCreate, clientCreds("Billing", "billing", "shared"), http.StatusCreated)
		e.mustCall(connectors.FnCreate, clientCreds("Alpha", "billing"), http.StatusCreated)

		cases := []struct {
			agent string
			want  string
		}{
			{"mailer", "GmailAPI"},
			{"billing", "Alpha,Billing"},
			{"shared", "Billing,GmailAPI"},
			{"nobody", ""},
			{"", "Alpha,Billing,GmailAPI"},
		}
		for _, c := range cases {
			body := map[string]any{}
			if c.agent != "" {
				body["agent"] = c.agent
			}
			out := e.mustCall(connectors.FnList, body, http.StatusOK)
			if got := strings.Join(names(out), ","); got != c.want {
				t.Errorf("POST list agent=%q: %q, want %q", c.agent, got, c.want)
			}
			if out["nextPageToken"] != "" {
				t.Errorf("single page must end with an empty token: %v", out["nextPageToken"])
			}
			q := url.Values{}
			if c.agent != "" {
				q.Set("agent", c.agent)
			}
			code, gout := e.get(connectors.FnList, q)
			if got := strings.Join(names(gout), ","); code != 200 || got != c.want {
				t.Errorf("GET list agent=%q: %d %q, want %q", c.agent, code, got, c.want)
			}
		}
		// Pagination, through GET query parameters.
		var all []string
		token := ""
		for pages := 0; ; pages++ {
			q := url.Values{"pageSize": {"2"}}
			if token != "" {
				q.Set("pageToken", token)
			}
			code, out := e.get(connectors.FnList, q)
			if code != 200 || pages > 3 {
				t.Fatalf("paging: %d %v", code, out)
			}
			all = append(all, names(out)...)
			token, _ = out["nextPageToken"].(string)
			if token == "" {
				break
			}
		}
		if got := strings.Join(all, ","); got != "Alpha,Billing,GmailAPI" {
			t.Fatalf("pages gave %q", got)
		}
		for _, bad := range []url.Values{{"pageSize": {"x"}}, {"pageSize": {"-1"}}, {"pageSize": {"501"}}, {"colour": {"red"}}, {"pageToken": {"not-a-token!"}}, {"agent": {"a b"}}} {
			if code, out := e.get(connectors.FnList, bad); code != 400 || errField(out) == "" {
				t.Errorf("GET list %v: %d %v, want 400 naming the field", bad, code, out)
			}
		}
	})
}

func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		e := newEnv(t, b, nil)
		withName := func(name string) map[string]any {
			c := gmailConnector("a")
			c["name"] = name
			return c
		}
		cases := []struct {
			name   string
			fn     string
			body   any
			status int
			code   string
			field  string
		}{
			{"name with space", connectors.FnCreate, withName("My Service"), 400, "invalid_argument", "name"},
			{"unknown field", connectors.FnCreate, `{"name":"X","grantType":"client_credentials","colour":"red"}`, 400, "invalid_argument", "colour"},
			{"wrong type", connectors.FnCreate, `{"name":"X","active":"yes"}`, 400, "invalid_argument", "active"},
			{"trailing data", connectors.FnCreate, `{"name":"X"} {}`, 400, "invalid_argument", ""},
			{"67 KiB body", connectors.FnCreate, `{"name":"` + strings.Repeat("x", 67<<10) + `"}`, 413, "payload_too_large", ""},
			{"http url", connectors.FnCreate, func() map[string]any { c := gmailConnector(); c["url"] = "http://auth.example.com/t"; return c }(), 400, "invalid_argument", "url"},
			{"metadata url", connectors.FnCreate, func() map[string]any { c := gmailConnector(); c["url"] = "http://169.254.169.254/token"; return c }(), 400, "invalid_argument", "url"},
			{"missing refresh token", connectors.FnCreate, func() map[string]any { c := gmailConnector(); delete(c, "refreshToken"); return c }(), 400, "invalid_argument", "refreshToken"},
			{"get without name", connectors.FnGet, `{}`, 400, "invalid_argument", "name"},
			{"get absent", connectors.FnGet, `{"name":"Nope"}`, 404, "not_found", ""},
			{"update absent", connectors.FnUpdate, `{"name":"Nope","changes":{}}`, 404, "not_found", ""},
			{"update without changes", connectors.FnUpdate, `{"name":"Nope"}`, 400, "invalid_argument", "changes"},
			// Decoding names a nested field by its path from the top, as
			// encoding/json's type errors always did (docs/security.md, Input).
			{"update unknown change", connectors.FnUpdate, `{"name":"Nope","changes":{"colour":"red"}}`, 400, "invalid_argument", "changes.colour"},
			{"update case-variant change", connectors.FnUpdate, `{"name":"Nope","changes":{"Scope":"a"}}`, 400, "invalid_argument", "changes.Scope"},
			{"update repeated change", connectors.FnUpdate, `{"name":"Nope","changes":{"scope":"a","scope":"b"}}`, 400, "invalid_argument", "changes.scope"},
			{"create case-variant repeat", connectors.FnCreate, `{"name":"X","NAME":"Y"}`, 400, "invalid_argument", "NAME"},
			{"delete absent", connectors.FnDelete, `{"name":"Nope"}`, 404, "not_found", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				code, out := e.call(c.fn, c.body)
				if code != c.status || errCode(out) != c.code || errField(out) != c.field {
					t.Fatalf("got %d %v, want %d %s field %q", code, out, c.status, c.code, c.field)
				}
				if msg, _ := out["error"].(map[string]any)["message"].(string); msg == "" {
					t.Fatal("error without a message")
				}
			})
		}
		// Wrong content type.
		req, _ := http.NewRequest(http.MethodPost, e.url+"/"+connectors.FnCreate, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "text/plain")
		if code, out := e.do(req); code != 415 || errCode(out) != "unsupported_media_type" {
			t.Fatalf("text/plain: %d %v", code, out)
		}
		// Nothing was created by any of it.
		out := e.mustCall(connectors.FnList, `{}`, 200)
		if len(names(out)) != 0 {
			t.Fatalf("bad input created %v", names(out))
		}
		ids, err := b.Secrets.IDs(context.Background())
		if err != nil || len(ids) != 0 {
			t.Fatalf("bad input left secrets %v (%v)", ids, err)
		}
	})
}

func TestUpdateRenameDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		e := newEnv(t, b, nil)
		created := e.mustCall(connectors.FnCreate, gmailConnector("mailer"), http.StatusCreated)
		rev0 := created["revision"].(string)

		// A non-secret change keeps the secrets and their version.
		before, _ := b.Store.Get(ctx, "GmailAPI")
		upd := e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "revision": rev0, "changes": map[string]any{"scope": "a b", "active": false}}, 200)
		rev1 := upd["revision"].(string)
		if rev1 == rev0 || upd["scope"] != "a b" || upd["active"] != false || upd["hasClientSecret"] != true || upd["hasRefreshToken"] != true {
			t.Fatalf("update: %v", upd)
		}
		after, _ := b.Store.Get(ctx, "GmailAPI")
		if after.SecretID != before.SecretID || after.SecretVersion != before.SecretVersion {
			t.Fatal("a non-secret update rewrote secrets")
		}

		// Stale revision: 409 conflict, nothing overwritten.
		code, out := e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "revision": rev0, "changes": map[string]any{"scope": "stale"}})
		if code != 409 || errCode(out) != "conflict" {
			t.Fatalf("stale update: %d %v", code, out)
		}
		if got := e.mustCall(connectors.FnGet, map[string]any{"name": "GmailAPI"}, 200); got["scope"] != "a b" || got["revision"] != rev1 {
			t.Fatalf("stale update changed: %v", got)
		}

		// A new client secret: new version, the other secret kept.
		upd = e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"clientSecret": newSecret}}, 200)
		if upd["hasClientSecret"] != true || upd["revision"] == rev1 {
			t.Fatalf("secret update: %v", upd)
		}
		c, _ := b.Store.Get(ctx, "GmailAPI")
		bundle, err := e.cat.Bundle(ctx, c)
		if err != nil || bundle.ClientSecret != newSecret || bundle.RefreshToken != gmailRefresh {
			t.Fatalf("secret update: err %v", err)
		}
		if c.SecretVersion == after.SecretVersion {
			t.Fatal("secret update did not add a version")
		}
		if _, err := b.Secrets.Get(ctx, c.SecretID, after.SecretVersion); err == nil {
			t.Fatal("the old secret version was not destroyed")
		}

		// Changing the grant type moves the secrets: each must come again.
		code, out = e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"grantType": "password", "username": "alice", "password": passwordVal}})
		if code != 400 || errField(out) != "clientSecret" {
			t.Fatalf("grant change without the client secret again: %d %v", code, out)
		}

		// Changing to a grant type that needs a field the connector lacks.
		code, out = e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"grantType": "password", "clientSecret": newSecret, "refreshToken": ""}})
		if code != 400 || errField(out) != "username" {
			t.Fatalf("grant change without username: %d %v", code, out)
		}

		// "" clears a write-only field; here that breaks a rule, so 400.
		code, out = e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"refreshToken": ""}})
		if code != 400 || errField(out) != "refreshToken" {
			t.Fatalf("clearing a required secret: %d %v", code, out)
		}
		upd = e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{
			"grantType": "password", "username": "alice", "password": passwordVal, "refreshToken": "", "clientSecret": newSecret,
		}}, 200)
		if upd["hasRefreshToken"] != false || upd["hasPassword"] != true || upd["username"] != "alice" {
			t.Fatalf("clear + set: %v", upd)
		}

		// Rename: the secret follows (same opaque ID), the old name is gone.
		secretID := c.SecretID
		e.mustCall(connectors.FnCreate, clientCreds("Taken", "x"), http.StatusCreated)
		code, out = e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"name": "Taken"}})
		if code != 409 || errCode(out) != "already_exists" {
			t.Fatalf("rename onto existing: %d %v", code, out)
		}
		ren := e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"name": "Mail2"}}, 200)
		if ren["name"] != "Mail2" {
			t.Fatalf("rename: %v", ren)
		}
		if code, _ := e.call(connectors.FnGet, map[string]any{"name": "GmailAPI"}); code != 404 {
			t.Fatalf("old name still readable: %d", code)
		}
		moved, _ := b.Store.Get(ctx, "Mail2")
		if moved.SecretID != secretID {
			t.Fatal("rename changed the secret ID")
		}
		if bundle, err := e.cat.Bundle(ctx, moved); err != nil || bundle.Password != passwordVal {
			t.Fatalf("secrets lost in rename: %v", err)
		}
		if code, g := e.get(connectors.FnGet, url.Values{"name": {"Mail2"}}); code != 200 || g["username"] != "alice" {
			t.Fatalf("GET get: %d %v", code, g)
		}

		// Delete with a stale revision: 409; then delete: gone with its secret.
		code, out = e.call(connectors.FnDelete, map[string]any{"name": "Mail2", "revision": rev0})
		if code != 409 || errCode(out) != "conflict" {
			t.Fatalf("stale delete: %d %v", code, out)
		}
		del := e.mustCall(connectors.FnDelete, map[string]any{"name": "Mail2", "revision": ren["revision"]}, 200)
		if del["deleted"] != "Mail2" {
			t.Fatalf("delete: %v", del)
		}
		if _, err := b.Secrets.Get(ctx, secretID, ""); err == nil {
			t.Fatal("delete left the secret behind")
		}
		if code, _ := e.call(connectors.FnDelete, map[string]any{"name": "Mail2"}); code != 404 {
			t.Fatalf("second delete: %d", code)
		}
	})
}

func TestAuditLog(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	e := newEnv(t, b, nil)
	e.mustCall(connectors.FnCreate, gmailConnector("a"), 201)
	e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"name": "Renamed"}}, 200)
	const typed = "cs-typed-for-the-audit-test"
	e.mustCall(connectors.FnUpdate, map[string]any{"name": "Renamed", "changes": map[string]any{"clientSecret": typed, "scope": "read"}}, 200)
	e.mustCall(connectors.FnDelete, map[string]any{"name": "Renamed"}, 200)
	e.mustCall(connectors.FnList, `{}`, 200)
	if strings.Contains(e.logs.String(), typed) {
		t.Fatal("a log line holds the client secret")
	}

	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry["audit"] != true {
			continue
		}
		if entry["severity"] != "INFO" || entry["principal"] != auth.LocalDev || entry["connector"] == "" {
			t.Fatalf("audit line lacks fields: %v", entry)
		}
		action := entry["action"].(string) + ":" + entry["connector"].(string)
		if fields, ok := entry["fields"].([]any); ok {
			action += fmt.Sprint(fields)
		}
		actions = append(actions, action)
	}
	// An update names the fields it changed, never their values.
	if got := strings.Join(actions, ","); got != "create:GmailAPI,rename:GmailAPI,update:Renamed[name],update:Renamed[scope clientSecret],delete:Renamed" {
		t.Fatalf("audit actions %q", got)
	}
}

func TestAuthentication(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const admin, agent = "admin@example.com", "runtime@proj.iam.gserviceaccount.com"
	b := testenv.New(t, testenv.Embedded)
	var e *env
	authn, err := auth.New(auth.Config{Admins: []string{admin}, Agents: []string{agent}}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t, b, authn)
	audience := e.url + "/" + connectors.FnCreate
	// Cloud Run terminates TLS; the derived audience is https://Host/path.
	audience = strings.Replace(audience, "http://", "https://", 1)

	send := func(token string) (int, map[string]any) {
		raw, _ := json.Marshal(clientCreds("ByAdmin", "x"))
		req, _ := http.NewRequest(http.MethodPost, e.url+"/"+connectors.FnCreate, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return e.do(req)
	}
	other := authtest.NewIssuer(t)
	expired := authtest.Claims(admin, audience)
	expired["exp"] = expired["iat"]
	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"no token", "", 401, "unauthenticated"},
		{"garbage", "not.a.jwt", 401, "unauthenticated"},
		{"bad signature", iss.Sign(t, other.Key, authtest.Claims(admin, audience)), 401, "unauthenticated"},
		{"wrong audience", iss.Token(t, admin, "https://elsewhere.example.com/connectors-create"), 401, "unauthenticated"},
		{"expired", iss.Sign(t, iss.Key, expired), 401, "unauthenticated"},
		{"agent on admin function", iss.Token(t, agent, audience), 403, "permission_denied"},
		{"admin", iss.Token(t, admin, audience), 201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := send(c.token)
			if code != c.status || (c.code != "" && errCode(out) != c.code) {
				t.Fatalf("got %d %v, want %d %s", code, out, c.status, c.code)
			}
			if c.status == 201 && (out["createdBy"] != admin || out["updatedBy"] != admin) {
				t.Fatalf("principal not recorded: %v", out)
			}
		})
	}
}
