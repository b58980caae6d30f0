package mint_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/cloudtest"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

const (
	awsAccessKeyID = "AKIAIOSFODNN7EXAMPLE"
	awsSecretKey   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// stsServer is an STS endpoint on loopback. It knows one long-lived key
// pair, verifies each request's SigV4 signature with it (by re-signing the
// request with the SDK's signer and comparing), and answers
// GetSessionToken and AssumeRole with fresh temporary credentials, or the
// XML error STS sends.
type stsServer struct {
	t      *testing.T
	srv    *httptest.Server
	region string // the region requests must be signed for
	calls  atomic.Int32
	issued atomic.Int32

	mu        sync.Mutex
	forms     []url.Values
	hang      bool
	raw       string // non-empty: answer every request with rawStatus and this body
	rawStatus int
	done      chan struct{}
}

func newSTSServer(t *testing.T, region string) *stsServer {
	s := &stsServer{t: t, region: region, done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.done) })
	return s
}

func (s *stsServer) lastForm() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.forms) == 0 {
		return nil
	}
	return s.forms[len(s.forms)-1]
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

func (s *stsServer) serve(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	hang, raw, rawStatus := s.hang, s.raw, s.rawStatus
	s.mu.Unlock()
	if raw != "" {
		w.WriteHeader(rawStatus)
		fmt.Fprint(w, raw)
		return
	}
	if hang {
		select {
		case <-s.done:
		case <-r.Context().Done():
		}
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("sts: read body: %v", err)
		return
	}
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		s.fail(w, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	keyID, region, service, signedHeaders := m[1], m[3], m[4], m[5]
	if keyID != awsAccessKeyID {
		s.fail(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if region != s.region || service != "sts" {
		s.fail(w, 403, "SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to a valid region and service, not %s/%s.", region, service))
		return
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !cloudtest.SigV4Matches(r, body, aws.Credentials{AccessKeyID: awsAccessKeyID, SecretAccessKey: awsSecretKey}, "sts", s.region, signedHeaders, signedAt) {
		s.fail(w, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.fail(w, 400, "MalformedQueryString", "cannot parse the form")
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, form)
	s.mu.Unlock()
	if form.Get("Version") != "2011-06-15" {
		s.fail(w, 400, "InvalidParameterValue", "unknown Version")
		return
	}
	n := s.issued.Add(1)
	duration := 3600
	if d := form.Get("DurationSeconds"); d != "" {
		fmt.Sscan(d, &duration)
	}
	creds := fmt.Sprintf(`<Credentials>
      <AccessKeyId>ASIATEMPORARY%07d</AccessKeyId>
      <SecretAccessKey>temporary-secret-%d</SecretAccessKey>
      <SessionToken>FwoGZXIvYXdzEXAMPLE-session-%d</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>`, n, n, n, time.Now().Add(time.Duration(duration)*time.Second).UTC().Format("2006-01-02T15:04:05.000Z"))
	w.Header().Set("Content-Type", "text/xml")
	switch form.Get("Action") {
	case "GetSessionToken":
		fmt.Fprintf(w, `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetSessionTokenResult>
    %s
  </GetSessionTokenResult>
  <ResponseMetadata><RequestId>58c5dbae-abef-11e0-8cfe-09039844ac7d</RequestId></ResponseMetadata>
</GetSessionTokenResponse>`, creds)
	case "AssumeRole":
		role := form.Get("RoleArn")
		if !strings.HasPrefix(role, "arn:aws:iam::123456789012:role/") {
			s.fail(w, 403, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: %s", role))
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/%s/%s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>
    </AssumedRoleUser>
    %s
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, strings.TrimPrefix(role, "arn:aws:iam::123456789012:role/"), form.Get("RoleSessionName"), form.Get("RoleSessionName"), creds)
	default:
		s.fail(w, 400, "InvalidAction", "unknown action")
	}
}

func (s *stsServer) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>4e4bdc27-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>`, code, msg)
}

func awsConnector(name, endpoint, keyID, secretKey string, params map[string]string) *connector.Input {
	in := &connector.Input{
		Name: ptr(name), URL: ptr(endpoint), GrantType: ptr("aws_iam"),
		ClientID: ptr(keyID), ClientSecret: ptr(secretKey), Agents: ptr([]string{"agent-1"}),
	}
	if params != nil {
		in.ExtraParams = ptr(params)
	}
	return in
}

// checkTemporary checks c holds temporary credentials, never the stored key.
func checkTemporary(t *testing.T, c *mint.Credential, lifetime time.Duration) {
	t.Helper()
	a := c.AWS
	if a == nil {
		t.Fatalf("no AWS credentials in %+v", c)
	}
	if !strings.HasPrefix(a.AccessKeyID, "ASIA") || a.AccessKeyID == awsAccessKeyID {
		t.Fatalf("access key ID %q is not a temporary one", a.AccessKeyID)
	}
	if a.SecretAccessKey == "" || a.SecretAccessKey == awsSecretKey || a.SessionToken == "" {
		t.Fatalf("temporary credentials incomplete or the long-lived key: %+v", a)
	}
	if d := time.Until(a.Expiration); d < lifetime-time.Minute || d > lifetime+time.Minute {
		t.Fatalf("expiration in %s, want about %s", d, lifetime)
	}
	if !c.Expiry.Equal(a.Expiration) || c.AccessToken != "" {
		t.Fatalf("credential %+v", c)
	}
}

func TestAWSGetSessionToken(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	sts := newSTSServer(t, "us-east-1")
	clk := clock.NewFake()
	createConnector(t, b, awsConnector("S3", sts.srv.URL, awsAccessKeyID, awsSecretKey, nil))
	s := cloudInstance(t, b, clk, "i1")

	c, err := s.Token(ctx, "S3", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	checkTemporary(t, c, time.Hour)
	f := sts.lastForm()
	if f.Get("Action") != "GetSessionToken" || f.Get("DurationSeconds") != "3600" || f.Has("RoleArn") {
		t.Fatalf("request %v", f)
	}
	// Cached, in this instance and the next.
	clk.Advance(10 * time.Minute)
	if c2, err := s.Token(ctx, "S3", "agent-1"); err != nil || c2.AWS.AccessKeyID != c.AWS.AccessKeyID {
		t.Fatalf("second call: %v %v", c2, err)
	}
	other := cloudInstance(t, testenv.Instance(t, b), clk, "i2")
	if c3, err := other.Token(ctx, "S3", "agent-1"); err != nil || c3.AWS.SessionToken != c.AWS.SessionToken {
		t.Fatalf("other instance: %v %v", c3, err)
	}
	if n := sts.calls.Load(); n != 1 {
		t.Fatalf("STS called %d times, want 1", n)
	}
	assertNoAWSSecret(t, fmt.Sprintf("%+v %+v", c, *c.AWS))
}

func TestAWSRegionAndDuration(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	sts := newSTSServer(t, "eu-central-1")
	createConnector(t, b, awsConnector("S3", sts.srv.URL, awsAccessKeyID, awsSecretKey,
		map[string]string{"region": "eu-central-1", "durationSeconds": "900"}))
	s := cloudInstance(t, b, clock.NewFake(), "i1")
	c, err := s.Token(context.Background(), "S3", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	checkTemporary(t, c, 15*time.Minute)
	if f := sts.lastForm(); f.Get("DurationSeconds") != "900" {
		t.Fatalf("request %v", f)
	}
}

func TestAWSAssumeRole(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	sts := newSTSServer(t, "us-east-1")
	createConnector(t, b, awsConnector("S3Role", sts.srv.URL, awsAccessKeyID, awsSecretKey,
		map[string]string{"roleArn": "arn:aws:iam::123456789012:role/rag/Reader", "externalId": "tenant-42"}))
	createConnector(t, b, awsConnector("S3Named", sts.srv.URL, awsAccessKeyID, awsSecretKey,
		map[string]string{"roleArn": "arn:aws:iam::123456789012:role/Writer", "roleSessionName": "rag-agent", "durationSeconds": "7200"}))
	createConnector(t, b, awsConnector("S3Denied", sts.srv.URL, awsAccessKeyID, awsSecretKey,
		map[string]string{"roleArn": "arn:aws:iam::999999999999:role/Other"}))
	s := cloudInstance(t, b, clock.NewFake(), "i1")

	c, err := s.Token(ctx, "S3Role", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	checkTemporary(t, c, time.Hour)
	f := sts.lastForm()
	if f.Get("Action") != "AssumeRole" || f.Get("RoleArn") != "arn:aws:iam::123456789012:role/rag/Reader" ||
		f.Get("RoleSessionName") != "connectors-S3Role" || f.Get("ExternalId") != "tenant-42" || f.Get("DurationSeconds") != "3600" {
		t.Fatalf("request %v", f)
	}

	c, err = s.Token(ctx, "S3Named", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	checkTemporary(t, c, 2*time.Hour)
	if f := sts.lastForm(); f.Get("RoleSessionName") != "rag-agent" || f.Has("ExternalId") || f.Get("DurationSeconds") != "7200" {
		t.Fatalf("request %v", f)
	}

	_, err = s.Token(ctx, "S3Denied", "agent-1")
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 403 || ue.Code != "AccessDenied" || !strings.Contains(ue.Description, "not authorized to perform: sts:AssumeRole") {
		t.Fatalf("want STS's 403 AccessDenied, got %v", err)
	}
	assertNoAWSSecret(t, err.Error())
}

func TestAWSRefused(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	sts := newSTSServer(t, "us-east-1")
	const wrongSecret = "wrongSecretKeyForTheConnectorTest0123456"
	createConnector(t, b, awsConnector("WrongSecret", sts.srv.URL, awsAccessKeyID, wrongSecret, nil))
	createConnector(t, b, awsConnector("UnknownKey", sts.srv.URL, "AKIAUNKNOWNKEY000000", awsSecretKey, nil))
	s := cloudInstance(t, b, clock.NewFake(), "i1")

	cases := []struct {
		name, code, secret string
	}{
		{"WrongSecret", "SignatureDoesNotMatch", wrongSecret},
		{"UnknownKey", "InvalidClientTokenId", awsSecretKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Token(ctx, c.name, "agent-1")
			var ue *oauth.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 403 || ue.Code != c.code || ue.Description == "" {
				t.Fatalf("want STS's 403 %s, got %v", c.code, err)
			}
			m := httpx.Map(err)
			if m.Status != http.StatusBadGateway || m.Code != httpx.CodeUpstreamError || m.Upstream.Status != 403 || m.Upstream.Error != c.code {
				t.Fatalf("mapped to %+v", m)
			}
			if strings.Contains(err.Error(), c.secret) || strings.Contains(fmt.Sprintf("%+v", m), c.secret) {
				t.Fatalf("error carries the secret key: %v", err)
			}
		})
	}
}

// TestAWSMinterErrors calls the minter directly for the transport failure
// classes and the address guard.
func TestAWSMinterErrors(t *testing.T) {
	sts := newSTSServer(t, "us-east-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()
	loopback := func(timeout time.Duration) *http.Client {
		return outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: timeout})
	}
	cases := []struct {
		name   string
		url    string
		client *http.Client
		hang   bool
		raw    string
		rawSt  int
		check  func(error) bool
		status int
	}{
		{"timeout", sts.srv.URL, loopback(300 * time.Millisecond), true, "", 0,
			func(err error) bool { return errors.Is(err, outbound.ErrTimeout) }, 504},
		{"unreachable", closedURL, loopback(2 * time.Second), false, "", 0,
			func(err error) bool { return errors.Is(err, outbound.ErrUnreachable) }, 504},
		{"loopback forbidden in production", sts.srv.URL, outbound.NewClient(outbound.Options{}), false, "", 0,
			func(err error) bool { return errors.Is(err, netguard.ErrForbidden) }, 409},
		{"metadata address always forbidden", "http://169.254.169.254", loopback(time.Second), false, "", 0,
			func(err error) bool { return errors.Is(err, netguard.ErrForbidden) }, 409},
		{"2xx not XML", sts.srv.URL, loopback(time.Second), false, "<html>" + awsSecretKey, 200,
			func(err error) bool { return errors.Is(err, oauth.ErrInvalidResponse) }, 502},
		{"2xx without credentials", sts.srv.URL, loopback(time.Second), false,
			`<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult></GetSessionTokenResult></GetSessionTokenResponse>`, 200,
			func(err error) bool { return errors.Is(err, oauth.ErrInvalidResponse) }, 502},
		{"5xx not XML", sts.srv.URL, loopback(time.Second), false, "<html>bad gateway " + awsSecretKey, 503,
			func(err error) bool {
				var ue *oauth.UpstreamError
				return errors.As(err, &ue) && ue.Status == 503
			}, 502},
		{"redirect not followed", sts.srv.URL, loopback(time.Second), false, "moved", 307,
			func(err error) bool {
				var ue *oauth.UpstreamError
				return errors.As(err, &ue) && ue.Status == 307
			}, 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sts.mu.Lock()
			sts.hang, sts.raw, sts.rawStatus = c.hang, c.raw, c.rawSt
			sts.mu.Unlock()
			before := sts.calls.Load()
			m := &mint.AWS{HTTP: c.client}
			conn := &connector.Connector{Name: "S3", GrantType: connector.GrantAWSIAM, URL: c.url, ClientID: awsAccessKeyID}
			start := time.Now()
			_, err := m.Mint(context.Background(), conn, secret.Bundle{ClientSecret: awsSecretKey})
			t.Logf("error: %v", err)
			if !c.check(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if got := httpx.Map(err).Status; got != c.status {
				t.Fatalf("maps to %d, want %d (%v)", got, c.status, err)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("took %s: retried?", time.Since(start))
			}
			if c.status == 409 && sts.calls.Load() != before {
				t.Fatal("a forbidden destination was contacted")
			}
			assertNoAWSSecret(t, err.Error())
		})
	}
}

func assertNoAWSSecret(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, awsSecretKey) || strings.Contains(s, url.QueryEscape(awsSecretKey)) {
		t.Fatalf("the long-lived secret key appears in %q", s)
	}
}
