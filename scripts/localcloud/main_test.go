package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/testenv"
	"connectors.dev/connectors/shared/testenv/emulator"
)

// waitFor waits until b contains every one of want.
func waitFor(t *testing.T, b *logtest.Buffer, want ...string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s := b.String()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in:\n%s", missing, s)
		}
	}
}

// exports reads the guide's export lines, as a shell would.
func exports(t *testing.T, guide string) []string {
	t.Helper()
	var env []string
	for _, line := range strings.Split(guide, "\n") {
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			// A value may be single-quoted whole (it holds a "|").
			if name, v, ok := strings.Cut(kv, "="); ok && len(v) > 1 && v[0] == '\'' && v[len(v)-1] == '\'' {
				kv = name + "=" + v[1:len(v)-1]
			}
			if !strings.Contains(kv, "=") || strings.ContainsAny(kv, `'"\$`) {
				t.Fatalf("export %q is not a plain NAME=VALUE", kv)
			}
			env = append(env, kv)
		}
	}
	return env
}

// hermeticEnv is this process's environment without what would steer the
// local run elsewhere: its own settings and any AWS or Google credentials.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CONNECTORS_") || strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "GOOGLE_") || name == "PORT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true")
}

// startLocalRun builds functions/devserver and starts it as documented: on
// PORT, with its data in CONNECTORS_DATA_DIR and env added. It is stopped
// (SIGTERM, by PID) when the test ends; output collects what it printed.
func startLocalRun(t *testing.T, port int, env []string) (base string, output *logtest.Buffer) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	d := testenv.StartDevserver(t, nil, append(hermeticEnv(), append([]string{fmt.Sprintf("PORT=%d", port), "CONNECTORS_DATA_DIR=" + dataDir}, env...)...))
	return fmt.Sprintf("http://127.0.0.1:%d", port), d.Output
}

// client calls the local run and keeps every response body, which the test
// searches for secrets at the end.
type client struct {
	t      *testing.T
	base   string
	mu     sync.Mutex
	bodies []string
}

func (c *client) post(fn string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.Post(c.base+"/"+fn, "application/json", bytes.NewReader(raw))
	if err != nil {
		c.t.Fatalf("%s: %v", fn, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s: %v", fn, err)
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, string(out))
	c.mu.Unlock()
	return resp.StatusCode, resp.Header, out
}

func (c *client) postJSON(fn string, body any) (int, map[string]any) {
	c.t.Helper()
	status, _, raw := c.post(fn, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s: not JSON (%v): %s", fn, err, raw)
	}
	return status, out
}

// TestTheGuideAgainstTheLocalRun starts localcloud's servers in process and
// the local run as a program with the environment the guide exports, then
// does what the guide says: create the two connectors, mint from each, and
// round-trip an object through files on both stores, with and without a
// connector.
func TestTheGuideAgainstTheLocalRun(t *testing.T) {
	port, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	c, err := start(options{gcsBucket: "local-gcs", s3Bucket: "local-s3", dir: t.TempDir(), localRun: fmt.Sprintf("http://127.0.0.1:%d", port)},
		log.New(logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var guideBuf bytes.Buffer
	writeGuide(&guideBuf, c)
	guide := guideBuf.String()
	t.Logf("guide:\n%s", guide)

	env := exports(t, guide)
	wantEnv := []string{"CONNECTORS_GCS_ENDPOINT=" + c.gcs.URL, "CONNECTORS_S3_ENDPOINT=" + c.s3.URL,
		"CONNECTORS_FILES_DEFAULT_ACCESS=demo=gs://local-gcs/demo|s3://local-s3/demo",
		"AWS_ACCESS_KEY_ID=" + c.defaultKeyID, "AWS_SECRET_ACCESS_KEY=" + c.defaultSecret, "AWS_REGION=us-east-1"}
	if strings.Join(env, " ") != strings.Join(wantEnv, " ") {
		t.Fatalf("exports %q, want %q", env, wantEnv)
	}
	base, localRunOutput := startLocalRun(t, port, env)
	api := &client{t: t, base: base}

	// The connectors as the guide's commands create them: scripts/connectors
	// sends these fields, the secret read from stdin or from the key file.
	for _, want := range []string{
		fmt.Sprintf("scripts/connectors --url %s create --name S3Demo --grant-type aws_iam --url %s --client-id %s --client-secret - --agents demo", base, c.stsURL, c.connKeyID),
		fmt.Sprintf("scripts/connectors --url %s create --name GcsDemo --grant-type gcs_service_account --client-secret-file %s --agents demo", base, c.saKeyPath),
		"#      " + c.connSecret + "\n",
	} {
		if !strings.Contains(guide, want) {
			t.Fatalf("the guide lacks %q", want)
		}
	}
	saKey, err := os.ReadFile(c.saKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.saKeyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file's mode: %v %v", fi, err)
	}
	create := func(in map[string]any) {
		t.Helper()
		if status, out := api.postJSON("connectors-create", in); status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", in["name"], status, out)
		}
	}
	create(map[string]any{"name": "S3Demo", "grantType": "aws_iam", "url": c.stsURL, "clientId": c.connKeyID, "clientSecret": c.connSecret, "agents": []string{"demo"}})
	create(map[string]any{"name": "GcsDemo", "grantType": "gcs_service_account", "clientSecret": string(saKey), "agents": []string{"demo"}})

	// Connectors the stand-ins must refuse: the right key ID with another
	// secret, and another RSA key for the same account and token URI.
	_, wrongSecret := cloudtest.NewAccessKey()
	otherKey, _, err := cloudtest.NewServiceAccountKey(saEmail, saProject, c.tokenURI)
	if err != nil {
		t.Fatal(err)
	}
	create(map[string]any{"name": "S3WrongSecret", "grantType": "aws_iam", "url": c.stsURL, "clientId": c.connKeyID, "clientSecret": wrongSecret, "agents": []string{"demo"}})
	create(map[string]any{"name": "GcsOtherKey", "grantType": "gcs_service_account", "clientSecret": string(otherKey), "agents": []string{"demo"}})

	calls := tokenCalls()
	if len(calls) != 2 || calls[0].body.(tokenRequest).Connector != "S3Demo" || calls[1].body.(tokenRequest).Connector != "GcsDemo" {
		t.Fatalf("token calls %+v", calls)
	}
	for _, call := range calls {
		if !strings.Contains(guide, call.curl(base)+"\n") {
			t.Fatalf("the guide lacks %s", call.curl(base))
		}
	}

	// aws_iam: temporary credentials from the STS stand-in, which verified
	// the SigV4 signature made with the stored pair.
	status, out := api.postJSON(calls[0].fn, calls[0].body)
	creds, _ := out["credentials"].(map[string]any)
	if status != http.StatusOK || creds == nil {
		t.Fatalf("token S3Demo: %d %v", status, out)
	}
	tempKeyID, _ := creds["accessKeyId"].(string)
	if !strings.HasPrefix(tempKeyID, "ASIA") || tempKeyID == c.connKeyID || creds["secretAccessKey"] == c.connSecret ||
		creds["secretAccessKey"] == "" || creds["sessionToken"] == "" {
		t.Fatalf("credentials %v are not temporary ones", creds)
	}
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(creds["expiration"])); err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > time.Hour {
		t.Fatalf("expiration %v (%v)", creds["expiration"], err)
	}
	waitFor(t, logs, "sts: GetSessionToken signed by "+c.connKeyID+": signature verified (us-east-1/sts); issued "+tempKeyID)

	// gcs_service_account: a bearer token from the Google stand-in, which
	// verified the assertion with the key's public half, for its own URI
	// and the default scope.
	status, out = api.postJSON(calls[1].fn, calls[1].body)
	gcsToken, _ := out["access_token"].(string)
	if status != http.StatusOK || !strings.HasPrefix(gcsToken, "ya29.local-") || out["token_type"] != "Bearer" {
		t.Fatalf("token GcsDemo: %d %v", status, out)
	}
	waitFor(t, logs, fmt.Sprintf("google-token: assertion verified (RS256 by %s's key, aud %s, scope %q", saEmail, c.tokenURI, "https://www.googleapis.com/auth/cloud-platform"))

	// Refusals reach the agent as the provider's error.
	for _, r := range []struct{ name, code, log string }{
		{"S3WrongSecret", "SignatureDoesNotMatch", "sts: GetSessionToken signed by " + c.connKeyID + " refused: HTTP 403 SignatureDoesNotMatch"},
		{"GcsOtherKey", "invalid_grant", "google-token: refused (HTTP 400 invalid_grant)"},
	} {
		status, out := api.postJSON("token", tokenRequest{Connector: r.name, Agent: "demo"})
		e, _ := out["error"].(map[string]any)
		up, _ := e["upstream"].(map[string]any)
		if status != http.StatusBadGateway || e["code"] != "upstream_error" || up["error"] != r.code {
			t.Fatalf("token %s: %d %v, want 502 upstream_error %s", r.name, status, out, r.code)
		}
		waitFor(t, logs, r.log)
	}

	// files: the guide's round trips (with each connector), then the same
	// without a connector.
	for _, rt := range []struct{ bucket, connector string }{
		{"gs://local-gcs", "GcsDemo"}, {"s3://local-s3", "S3Demo"}, {"gs://local-gcs", ""}, {"s3://local-s3", ""},
	} {
		steps := roundTrip(rt.bucket, rt.connector)
		if rt.connector != "" {
			for _, s := range steps {
				if !strings.Contains(guide, s.curl(base)+"\n") {
					t.Fatalf("the guide lacks %s", s.curl(base))
				}
			}
		}
		filesRoundTrip(t, api, steps)
	}

	// An agent the mapping does not name gets 403 for every op without a
	// connector, and neither storage server hears of it.
	seen := len(c.gcs.Authorizations()) + len(c.s3.AccessKeys())
	for _, bucket := range []string{"gs://local-gcs", "s3://local-s3"} {
		var reqs []filesRequest
		for _, f := range roundTrip(bucket, "") {
			req := f.body.(filesRequest)
			req.Agent = "other-agent"
			reqs = append(reqs, req)
		}
		// The demo agent itself, beside its folder or making a bucket.
		reqs = append(reqs, filesRequest{Op: "list", URI: bucket + "/", Agent: agent},
			filesRequest{Op: "read", URI: bucket + "/demo-other/x", Agent: agent},
			filesRequest{Op: "createBucket", URI: bucket + "-new", Agent: agent})
		for _, req := range reqs {
			status, out := api.postJSON("files", req)
			if e, _ := out["error"].(map[string]any); status != 403 || e["code"] != "permission_denied" {
				t.Fatalf("files %s %s for %s without a connector: %d %v", req.Op, req.URI, req.Agent, status, out)
			}
		}
	}
	if n := len(c.gcs.Authorizations()) + len(c.s3.AccessKeys()) - seen; n != 0 {
		t.Fatalf("refused files requests reached storage %d times", n)
	}

	// The storage servers saw the minted credentials, never the stored
	// ones: the Google token as a bearer token, the temporary AWS key (and,
	// without a connector, the local run's own pair).
	if !slices.Contains(c.gcs.Authorizations(), "Bearer "+gcsToken) {
		t.Fatalf("GCS never saw the minted token; Authorization headers: %q", c.gcs.Authorizations())
	}
	keys := c.s3.AccessKeys()
	if !slices.Contains(keys, tempKeyID) || !slices.Contains(keys, c.defaultKeyID) || slices.Contains(keys, c.connKeyID) {
		t.Fatalf("S3 requests were signed with %q; want %s and %s, never %s", keys, tempKeyID, c.defaultKeyID, c.connKeyID)
	}

	// No response, and no line the local run or localcloud printed, carries
	// the stored AWS secret or the service account's private key.
	secrets := append([]string{c.connSecret, url.QueryEscape(c.connSecret), wrongSecret, string(saKey), string(otherKey)},
		cloudtest.PrivateKeyLines(saKey)...)
	secrets = append(secrets, cloudtest.PrivateKeyLines(otherKey)...)
	api.mu.Lock()
	bodies := strings.Join(api.bodies, "\n")
	api.mu.Unlock()
	for _, s := range secrets {
		for where, text := range map[string]string{"a response body": bodies, "the local run's output": localRunOutput.String(), "localcloud's log": logs.String()} {
			if strings.Contains(text, s) {
				t.Errorf("%s carries a secret (%.12s…)", where, s)
			}
		}
	}
}

// filesRoundTrip runs write, read, list and delete and checks each answer,
// then that the object is gone.
func filesRoundTrip(t *testing.T, api *client, steps []call) {
	t.Helper()
	if len(steps) != 4 {
		t.Fatalf("%d steps", len(steps))
	}
	write := steps[0].body.(filesRequest)
	what := write.URI + " with connector " + write.Connector
	status, out := api.postJSON(steps[0].fn, steps[0].body)
	if status != http.StatusOK || out["uri"] != write.URI {
		t.Fatalf("write %s: %d %v", what, status, out)
	}
	status, header, raw := api.post(steps[1].fn, steps[1].body)
	if want, _ := base64.StdEncoding.DecodeString(write.Data); status != http.StatusOK || string(raw) != string(want) || header.Get("Content-Type") != "text/plain" {
		t.Fatalf("read %s: %d %s %q", what, status, header.Get("Content-Type"), raw)
	}
	status, out = api.postJSON(steps[2].fn, steps[2].body)
	objs, _ := out["objects"].([]any)
	if status != http.StatusOK || len(objs) != 1 || objs[0].(map[string]any)["uri"] != write.URI {
		t.Fatalf("list %s: %d %v", steps[2].body.(filesRequest).URI, status, out)
	}
	status, out = api.postJSON(steps[3].fn, steps[3].body)
	if status != http.StatusOK || out["deleted"] != write.URI {
		t.Fatalf("delete %s: %d %v", what, status, out)
	}
	if status, out := api.postJSON(steps[1].fn, steps[1].body); status != http.StatusNotFound {
		t.Fatalf("read after delete %s: %d %v", what, status, out)
	}
}

// guideWriter hands the guide to the test when run prints it.
type guideWriter struct{ ch chan string }

func (w guideWriter) Write(p []byte) (int, error) {
	w.ch <- string(p)
	return len(p), nil
}

var endpointRE = regexp.MustCompile(`export CONNECTORS_GCS_ENDPOINT=(\S+)`)

// TestRunServesUntilCanceled runs the program as main does: it prints the
// guide in one write, keeps the key in a private temporary directory while
// it serves, and when its context ends stops its servers and removes the
// directory.
func TestRunServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := guideWriter{ch: make(chan string, 1)}
	stderr := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-gcs-bucket", "b-gcs", "-s3-bucket", "b-s3"}, stdout, stderr) }()
	var guide string
	select {
	case guide = <-stdout.ch:
	case err := <-done:
		t.Fatalf("run returned %v; stderr:\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("no guide printed")
	}
	m := endpointRE.FindStringSubmatch(guide)
	if m == nil || !strings.Contains(guide, "gs://b-gcs/demo/hello.txt") || !strings.Contains(guide, "s3://b-s3/demo/hello.txt") {
		t.Fatalf("guide:\n%s", guide)
	}
	keyPath := regexp.MustCompile(`--client-secret-file (\S+)`).FindStringSubmatch(guide)
	if keyPath == nil {
		t.Fatalf("no key file in the guide:\n%s", guide)
	}
	fi, err := os.Stat(keyPath[1])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if di, err := os.Stat(filepath.Dir(keyPath[1])); err != nil || di.Mode().Perm()&0o077 != 0 {
		t.Fatalf("key directory: %v %v", di, err)
	}
	gcsAddr := strings.TrimPrefix(m[1], "http://")
	if conn, err := net.Dial("tcp", gcsAddr); err != nil {
		t.Fatalf("the GCS server is not serving: %v", err)
	} else {
		conn.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if conn, err := net.Dial("tcp", gcsAddr); err == nil {
		conn.Close()
		t.Fatal("the GCS server still accepts connections")
	}
	if _, err := os.Stat(filepath.Dir(keyPath[1])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary key directory is still there: %v", err)
	}
	if !strings.Contains(stderr.String(), "localcloud: stopping") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-gcs-bucket") {
		t.Fatalf("-h: %v %s", err, stderr.String())
	}
	for _, args := range [][]string{{"-gcs-bucket", "Bad_Name"}, {"-s3-bucket", "a"}, {"-local-run", "ftp://x"}, {"extra"}, {"-nope"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.gcsBucket != "local-gcs" || o.s3Bucket != "local-s3" || o.dir != "" || o.localRun != "http://127.0.0.1:8080" {
		t.Fatalf("defaults %+v %v", o, err)
	}
	if got := shellQuote("/tmp/it's here/sa-key.json"); got != `'/tmp/it'\''s here/sa-key.json'` {
		t.Fatalf("quoted %s", got)
	}
}
