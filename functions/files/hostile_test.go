package files_test

// The attacks of issue 11 on the files function, each as an agent would
// try them from outside: the deployment's own storage identity without a
// connector (item 1), grants that outlive the credential (item 4), signed
// URLs that outlive everything (item 10), the audit trail of what
// succeeded (item 9) and memory under concurrent large writes (item 11).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/testenv"
)

// storageRequests counts the requests both storage servers have seen.
func (e *env) storageRequests() int { return len(e.gcs.Authorizations()) + len(e.s3.AccessKeys()) }

// refusedUnseen posts req and wants it refused with code (and field, when
// given) while neither storage server sees a request.
func (e *env) refusedUnseen(t *testing.T, req map[string]any, code int, ecode, field string) {
	t.Helper()
	before := e.storageRequests()
	r := e.files(req)
	if r.code != code || r.err()["code"] != ecode || (field != "" && r.err()["field"] != field) {
		t.Errorf("%v: got %d %s; want %d %s field %q", req, r.code, r.raw, code, ecode, field)
	}
	if n := e.storageRequests() - before; n != 0 {
		t.Errorf("%v: the storage servers saw %d requests; want none", req, n)
	}
}

var allOps = []struct{ op, key string }{
	{"list", "pre/"}, {"read", "pre/a.txt"}, {"write", "pre/a.txt"}, {"delete", "pre/a.txt"},
	{"sign", "pre/a.txt"}, {"createBucket", ""}, {"grantAccess", ""},
}

func opOn(o, bucketURI, key, agent string) map[string]any {
	uri := bucketURI
	if key != "" {
		uri += "/" + key
	}
	m := op(o, uri)
	m["agent"] = agent
	if o == "write" {
		m["data"] = b64("overwritten by a stranger")
	}
	return m
}

// TestHostileDefaultIdentityOffByDefault: with no mapping, no agent may use
// the deployment's identity for anything, and storage never hears of it.
func TestHostileDefaultIdentityOffByDefault(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{env: map[string]string{"CONNECTORS_FILES_DEFAULT_ACCESS": ""}})
	for _, bucket := range []string{"gs://gcs-bucket", "s3://s3-bucket"} {
		for _, o := range allOps {
			e.refusedUnseen(t, opOn(o.op, bucket, o.key, "agent-1"), 403, "permission_denied", "")
		}
	}
}

// TestHostileDefaultIdentityOutsideMapping: an agent mapped to a folder
// reaches nothing beside it, however the URI is spelt, and an unmapped
// agent reaches nothing at all.
func TestHostileDefaultIdentityOutsideMapping(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{env: map[string]string{
		"CONNECTORS_FILES_DEFAULT_ACCESS": "agent-1=gs://gcs-bucket/pre|s3://s3-bucket/pre/",
	}})
	e.gcs.Put(t, "gcs-bucket", "prefix-other/secret.txt", "text/plain", []byte("not yours"))
	e.s3.Put(t, "s3-bucket", "prefix-other/secret.txt", "text/plain", []byte("not yours"))

	// An agent ID nobody mapped: every op, inside the mapped folders too.
	for _, bucket := range []string{"gs://gcs-bucket", "s3://s3-bucket"} {
		for _, o := range allOps {
			e.refusedUnseen(t, opOn(o.op, bucket, o.key, "stranger"), 403, "permission_denied", "")
		}
	}
	// Agent IDs are exact: a case variant is another agent.
	e.refusedUnseen(t, opOn("read", "gs://gcs-bucket", "pre/a.txt", "Agent-1"), 403, "permission_denied", "")

	// The mapped agent, beside its folder.
	for _, uri := range []string{
		"gs://gcs-bucket/prefix-other/secret.txt",     // string prefix, not the folder
		"gs://gcs-bucket/pre",                         // the folder's name is not in it
		"gs://gcs-bucket/pre%2F..%2Fprefix-other/x",   // encoded: a literal name, outside
		"gs://gcs-bucket/PRE/a.txt",                   // names are case-sensitive
		"gs://gcs-bucket2/pre/a.txt",                  // a bucket whose name extends it
		"gs://s3-bucket/pre/a.txt",                    // the other provider's bucket name
		"s3://gcs-bucket/pre/a.txt",                   //  … and the reverse
		"s3://s3-bucket/prefix-other/secret.txt",      // S3 likewise
		"s3://s3-bucket/pre\\..\\prefix-other/secret", // backslashes are literal
	} {
		e.refusedUnseen(t, op("read", uri), 403, "permission_denied", "")
		e.refusedUnseen(t, op("sign", uri), 403, "permission_denied", "")
		e.refusedUnseen(t, op("write", uri, "data", b64("x")), 403, "permission_denied", "")
		e.refusedUnseen(t, op("delete", uri), 403, "permission_denied", "")
	}
	// ".." segments never reach the check: they are not object names.
	e.refusedUnseen(t, op("read", "gs://gcs-bucket/pre/../prefix-other/secret.txt"), 400, "invalid_argument", "uri")
	e.refusedUnseen(t, op("read", "s3://s3-bucket/pre/./../prefix-other/secret.txt"), 400, "invalid_argument", "uri")
	// Lists: the provider matches a prefix as a string, so only prefixes
	// inside the folder pass.
	for _, uri := range []string{"gs://gcs-bucket", "gs://gcs-bucket/", "gs://gcs-bucket/p", "gs://gcs-bucket/pre", "s3://s3-bucket/pre", "s3://s3-bucket"} {
		e.refusedUnseen(t, op("list", uri), 403, "permission_denied", "")
	}
	// Never, even on the mapped bucket: create or share a bucket.
	e.refusedUnseen(t, op("createBucket", "gs://new-bucket"), 403, "permission_denied", "")
	e.refusedUnseen(t, op("createBucket", "s3://new-bucket"), 403, "permission_denied", "")
	e.refusedUnseen(t, op("grantAccess", "gs://gcs-bucket", "member", "serviceAccount:"+grantEmail), 403, "permission_denied", "")

	// Inside the folder it works, and reads back only the folder.
	for _, base := range []string{"gs://gcs-bucket/pre/", "s3://s3-bucket/pre/"} {
		if r := e.files(op("write", base+"a.txt", "data", b64("mine"))); r.code != 200 {
			t.Fatalf("write inside: %d %s", r.code, r.raw)
		}
		r := e.files(op("list", base))
		if objs, _ := r.json["objects"].([]any); r.code != 200 || len(objs) != 1 {
			t.Fatalf("list inside: %d %s", r.code, r.raw)
		}
		if r := e.files(op("read", base+"a.txt")); r.code != 200 || string(r.raw) != "mine" {
			t.Fatalf("read inside: %d %s", r.code, r.raw)
		}
	}
}

// TestHostileDefaultAccessSetting: a malformed mapping stops the function
// at start with an error naming the setting and the bad part.
func TestHostileDefaultAccessSetting(t *testing.T) {
	for _, v := range []string{
		"agent-1",  // no location
		"agent-1=", // empty list
		"agent-1=https://storage.googleapis.com/b",       // not an object URI
		"agent-1=gs://gcs-bucket/a/../b",                 // ".." segment
		"agent-1=gs://Bucket",                            // bad bucket name
		"agent 1=gs://gcs-bucket",                        // bad agent ID
		"agent-1=gs://gcs-bucket;agent-1=s3://s3-bucket", // repeated agent
	} {
		_, err := files.OptionsFromEnv(func(k string) string {
			if k == "CONNECTORS_FILES_DEFAULT_ACCESS" {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "CONNECTORS_FILES_DEFAULT_ACCESS") {
			t.Errorf("%q: %v", v, err)
		}
	}
}

// TestHostileGrantAccess: a grant outlives the short-lived credential, so
// only the connector's serviceAccountEmail may get one, with an object
// role; everything else is refused before a storage call.
func TestHostileGrantAccess(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	for _, c := range []struct{ member, role, field string }{
		{"user:attacker@example.com", "", "member"},
		{"group:everyone@example.com", "", "member"},
		{"domain:example.com", "", "member"},
		{"principalSet://iam.googleapis.com/locations/global/workforcePools/p/*", "", "member"},
		{"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s", "", "member"},
		{"serviceAccount:attacker@evil.iam.gserviceaccount.com", "", "member"},
		{"serviceAccount:" + grantEmail + ".evil.com", "", "member"},
		{"allUsers", "", "member"},
		{"allAuthenticatedUsers", "", "member"},
		{"", "roles/storage.admin", "role"},
		{"", "roles/storage.objectAdmin", "role"},
		{"", "roles/storage.legacyBucketOwner", "role"},
		{"", "roles/owner", "role"},
		{"", "projects/p/roles/custom", "role"},
		{"serviceAccount:" + grantEmail, "roles/storage.admin", "role"},
	} {
		req := op("grantAccess", "gs://gcs-bucket", "connector", "GCS")
		if c.member != "" {
			req["member"] = c.member
		}
		if c.role != "" {
			req["role"] = c.role
		}
		e.refusedUnseen(t, req, 400, "invalid_argument", c.field)
	}
	if got := e.gcs.Members("gcs-bucket", "roles/storage.admin"); len(got) != 0 {
		t.Fatalf("storage.admin granted to %q", got)
	}
	// Without a role, read-only.
	r := e.files(op("grantAccess", "gs://gcs-bucket", "connector", "GCS"))
	if r.code != 200 || r.json["role"] != "roles/storage.objectViewer" || r.json["member"] != "serviceAccount:"+grantEmail {
		t.Fatalf("default grant: %d %s", r.code, r.raw)
	}
	if got := e.gcs.Members("gcs-bucket", "roles/storage.objectAdmin"); len(got) != 0 {
		t.Fatalf("objectAdmin granted to %q by default", got)
	}
}

// TestHostileSignedURLExpiry: a signed URL is a bearer credential nobody
// can revoke; it lives an hour at most unless the deployment says more.
func TestHostileSignedURLExpiry(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	for _, secs := range []int{604800, 86400, 3601} {
		e.refusedUnseen(t, op("sign", "s3://s3-bucket/k", "connector", "S3", "expiresIn", secs), 400, "invalid_argument", "expiresIn")
		e.refusedUnseen(t, op("sign", "gs://gcs-bucket/k", "connector", "GCS", "expiresIn", secs), 400, "invalid_argument", "expiresIn")
	}
	r := e.files(op("sign", "s3://s3-bucket/k", "connector", "S3", "expiresIn", 3600))
	if r.code != 200 || mustQuery(t, r.json["url"].(string)).Get("X-Amz-Expires") != "3600" {
		t.Fatalf("an hour: %d %s", r.code, r.raw)
	}

	// Raised by the one setting, up to the providers' seven days.
	e = newEnv(t, testenv.Embedded, envOptions{env: map[string]string{"CONNECTORS_FILES_MAX_SIGNED_EXPIRY": "168h"}})
	e.connectors()
	r = e.files(op("sign", "s3://s3-bucket/k", "connector", "S3", "expiresIn", 604800))
	if r.code != 200 || mustQuery(t, r.json["url"].(string)).Get("X-Amz-Expires") != "604800" {
		t.Fatalf("seven days when allowed: %d %s", r.code, r.raw)
	}
	e.refusedUnseen(t, op("sign", "s3://s3-bucket/k", "connector", "S3", "expiresIn", 604801), 400, "invalid_argument", "expiresIn")
	for _, v := range []string{"169h", "0s", "forever"} {
		if _, err := files.OptionsFromEnv(func(k string) string {
			if k == "CONNECTORS_FILES_MAX_SIGNED_EXPIRY" {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), "CONNECTORS_FILES_MAX_SIGNED_EXPIRY") {
			t.Errorf("%q: %v", v, err)
		}
	}
}

// TestHostileAuditLine: every successful operation leaves one line naming
// principal, agent, connector (or the default identity), op, URI and
// outcome; never the signed URL or a credential (checkNoLeaks).
func TestHostileAuditLine(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	if r := e.files(op("write", "gs://gcs-bucket/audit/a.txt", "data", b64("x"))); r.code != 200 {
		t.Fatalf("write: %d %s", r.code, r.raw)
	}
	r := e.files(op("sign", "s3://s3-bucket/audit/a.txt", "connector", "S3"))
	if r.code != 200 {
		t.Fatalf("sign: %d %s", r.code, r.raw)
	}
	signed := r.json["url"].(string)
	e.files(op("read", "gs://gcs-bucket/audit/missing")) // 404: no audit line

	var lines []map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["audit"] == true && m["op"] != nil {
			lines = append(lines, m)
		}
	}
	want := []map[string]any{
		{"principal": "local-dev", "agent": "agent-1", "connector": "default identity", "op": "write", "uri": "gs://gcs-bucket/audit/a.txt", "outcome": "ok"},
		{"principal": "local-dev", "agent": "agent-1", "connector": "S3", "op": "sign", "uri": "s3://s3-bucket/audit/a.txt", "outcome": "ok"},
	}
	if len(lines) != len(want) {
		t.Fatalf("audit lines %v; want %d", lines, len(want))
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("audit line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
	}
	u, _ := strings.CutPrefix(signed, "http://")
	if strings.Contains(e.logs.String(), u) || strings.Contains(e.logs.String(), "X-Amz-Signature") {
		t.Error("the signed URL is in the logs")
	}
}

// TestHostileConcurrentLargeWrites: 40 agents each write 20 MiB at once to
// one instance of the local run, built as deployed and run under the
// deployment's GOMEMLIMIT (384MiB; GOGC 400). Its peak resident memory
// stays under that limit, nothing ends in 500, and a write that finds the
// instance full is told when to retry (503 unavailable, Retry-After);
// retrying so, every write lands.
func TestHostileConcurrentLargeWrites(t *testing.T) {
	const (
		writers = 40
		size    = 20 << 20
		// The instance's memory, terraform/functions.tf's 512M. The heap
		// may fill GOMEMLIMIT (GOGC 400 lets garbage wait for it); the
		// runtime's own memory comes on top.
		memLimit = 512_000_000
	)
	s3 := objectservers.NewS3(t, "mem-bucket")
	base, pid := startDevserver(t, []string{
		"GOMEMLIMIT=384MiB", "GOGC=400",
		"CONNECTORS_S3_ENDPOINT=" + s3.URL,
		"AWS_ACCESS_KEY_ID=" + defaultAWSKeyID, "AWS_SECRET_ACCESS_KEY=" + defaultAWSSec, "AWS_REGION=us-east-1",
		"CONNECTORS_FILES_DEFAULT_ACCESS=mem=s3://mem-bucket/big/",
		"CONNECTORS_REQUEST_TIMEOUT=120s",
	})

	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	body, _ := json.Marshal(map[string]any{"op": "write", "uri": "s3://mem-bucket/big/obj", "agent": "mem", "data": base64.StdEncoding.EncodeToString(data)})
	data = nil

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		problems []string
	)
	client := &http.Client{Timeout: 5 * time.Minute}
	start := time.Now()
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 200; attempt++ {
				resp, err := client.Post(base+"/files", "application/json", bytes.NewReader(body))
				if err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("writer %d: %v", i, err))
					mu.Unlock()
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				switch resp.StatusCode {
				case 200:
					return
				case 503:
					secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || secs < 1 || !strings.Contains(string(out), `"unavailable"`) {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("writer %d: 503 without Retry-After: %v %s", i, resp.Header, out))
						mu.Unlock()
						return
					}
					time.Sleep(time.Duration(secs) * time.Second)
				default:
					mu.Lock()
					problems = append(problems, fmt.Sprintf("writer %d: %d %.300s", i, resp.StatusCode, out))
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			problems = append(problems, fmt.Sprintf("writer %d: still refused after 200 attempts", i))
			mu.Unlock()
		}()
	}
	wg.Wait()
	peak := peakRSS(t, pid)
	t.Logf("statuses %v in %s; peak RSS %d MiB", statuses, time.Since(start).Round(time.Second), peak>>20)
	for _, p := range problems {
		t.Error(p)
	}
	if statuses[200] != writers {
		t.Errorf("%d of %d writes landed", statuses[200], writers)
	}
	if peak > memLimit {
		t.Errorf("peak RSS %d MiB exceeds the instance's %d MiB", peak>>20, memLimit>>20)
	}
}

// peakRSS reads the process's high-water resident set (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the local run's memory: %v", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// startDevserver builds functions/devserver without the race detector (its
// memory is what is measured) and starts it on a free loopback port with
// only env's settings; it is stopped by PID when the test ends.
func startDevserver(t *testing.T, env []string) (base string, pid int) {
	t.Helper()
	dir := t.TempDir()
	d := testenv.StartDevserver(t, []string{"-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data")},
		append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AWS_EC2_METADATA_DISABLED=true"}, env...))
	return d.Addr, d.Pid
}
