// Package cloudtest holds loopback stand-ins for AWS STS and Google's OAuth
// token endpoint that verify requests for real: STS re-signs each request
// with the one key pair it knows and compares SigV4 signatures, and the
// token endpoint checks the RS256 JWT assertion against a service
// account's public key. With them the aws_iam and gcs_service_account
// minters run end to end, signing included, without a cloud account.
//
// For tests and scripts/localcloud only: the credentials they issue are
// random strings that nothing else accepts.
package cloudtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// DefaultRegion is the region STS expects requests to be signed for when
// its Region is empty, as the aws_iam minter's default.
const DefaultRegion = "us-east-1"

const (
	stsVersion = "2011-06-15"
	stsNS      = "https://sts.amazonaws.com/doc/" + stsVersion + "/"
	// maxSkew is how far X-Amz-Date may be from the server's clock, as AWS
	// allows: a captured request cannot be replayed later.
	maxSkew = 15 * time.Minute
	// maxFormBytes bounds the body read before the signature is checked;
	// STS's own forms are a few hundred bytes.
	maxFormBytes = 64 << 10
	// STS's bounds on DurationSeconds (GetSessionToken for IAM users, and
	// AssumeRole's largest role session).
	minDuration             = 900
	maxSessionTokenDuration = 129600
	maxAssumeRoleDuration   = 43200
	defaultDuration         = 3600
)

// STS is an http.Handler standing in for AWS STS's query API. It knows one
// long-lived key pair, accepts only requests whose SigV4 signature that
// pair reproduces, and answers GetSessionToken and AssumeRole with fresh
// temporary credentials, or with the XML error STS sends
// (MissingAuthenticationToken, InvalidClientTokenId,
// SignatureDoesNotMatch: 403; InvalidAction, ValidationError: 400).
// AssumeRole accepts any well-formed role ARN: there are no policies.
type STS struct {
	// KeyID and SecretKey are the long-lived key pair requests must be
	// signed with.
	KeyID, SecretKey string
	// Region is the region requests must be signed for; empty means
	// DefaultRegion.
	Region string
	// Log, when set, receives one line per request: the action, the key ID
	// and region it was signed for, and whether it was verified and what
	// was issued. It never carries a secret key, a session token or the
	// signature.
	Log func(msg string)
	// Now is the clock for the signature's freshness and expirations; nil
	// means time.Now.
	Now func() time.Time

	// issuedCreds holds the temporary credentials issued, by access key
	// ID, so that VerifyIssued can check requests signed with them, as
	// AWS services do.
	issuedCreds sync.Map
}

// VerifyIssued checks a request signed (SigV4) with temporary credentials
// this STS issued, for service and region, as an AWS service would: the
// key must be one it issued, the session token must be the one issued with
// it, and the signature must match over the request and its body (read
// into body; with X-Amz-Content-Sha256 UNSIGNED-PAYLOAD the body is not
// part of the signature).
func (s *STS) VerifyIssued(r *http.Request, body []byte, service, region string) error {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("cloudtest: no SigV4 Authorization header")
	}
	v, ok := s.issuedCreds.Load(m[1])
	if !ok {
		return fmt.Errorf("cloudtest: access key %s was not issued here", m[1])
	}
	creds := v.(aws.Credentials)
	if r.Header.Get("X-Amz-Security-Token") != creds.SessionToken {
		return fmt.Errorf("cloudtest: the session token is not the one issued with %s", m[1])
	}
	if m[3] != region || m[4] != service {
		return fmt.Errorf("cloudtest: signed for %s/%s, want %s/%s", m[3], m[4], region, service)
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("cloudtest: X-Amz-Date: %w", err)
	}
	if !SigV4MatchesPayload(r, body, r.Header.Get("X-Amz-Content-Sha256"), creds, service, region, m[5], signedAt) {
		return fmt.Errorf("cloudtest: SignatureDoesNotMatch")
	}
	return nil
}

func (s *STS) remember(c credentials) {
	s.issuedCreds.Store(c.AccessKeyID, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken})
}

// authRE parses a SigV4 Authorization header.
var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$`)

// roleARNRE is an IAM role ARN in any partition, with an optional path.
var roleARNRE = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[A-Za-z0-9+=,.@_-]+/)*([A-Za-z0-9+=,.@_-]{1,64})$`)

// sessionNameRE is STS's RoleSessionName constraint.
var sessionNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{2,64}$`)

// stsError is a refusal in STS's words.
type stsError struct {
	status        int
	code, message string
}

// ServeHTTP answers one call of STS's query API.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rq request
	out, err := s.handle(r, &rq)
	if err != nil {
		verified := ""
		if rq.verified {
			verified = " after its signature verified"
		}
		s.logf("%s refused%s: HTTP %d %s: %s", rq, verified, err.status, err.code, err.message)
		writeSTSError(w, err)
		return
	}
	body, merr := xml.MarshalIndent(out.response, "", "  ")
	if merr != nil {
		s.logf("%s: cannot encode the response: %v", rq, merr)
		writeSTSError(w, &stsError{http.StatusInternalServerError, "InternalFailure", "cannot encode the response"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(body)
	s.logf("%s: signature verified (%s/sts); issued %s, expiring %s", rq, s.region(), out.accessKeyID, out.expiration)
}

// request is what the log may say of a request, filled in as it is read:
// the key ID is an identifier, not a secret.
type request struct {
	action, keyID, role string
	verified            bool
}

func (q request) String() string {
	s := "request"
	if q.action != "" {
		s = loggable(q.action)
	}
	if q.role != "" {
		s += " of " + loggable(q.role)
	}
	if q.keyID != "" {
		s += " signed by " + loggable(q.keyID)
	}
	return s
}

// loggable is a value from a request as a log may show it: quoted when it
// has anything but printable ASCII (a forged line break), and shortened.
func loggable(v string) string {
	const maxLen = 200
	if len(v) > maxLen {
		v = v[:maxLen] + "..."
	}
	for _, c := range []byte(v) {
		if c < 0x21 || c > 0x7e {
			return strconv.QuoteToASCII(v)
		}
	}
	return v
}

// issued is an accepted request's answer and what the log may say of it.
type issued struct {
	response    any
	accessKeyID string
	expiration  string
}

// handle verifies r and issues credentials, noting in rq what it learns.
func (s *STS) handle(r *http.Request, rq *request) (*issued, *stsError) {
	if r.Method != http.MethodPost {
		return nil, &stsError{http.StatusBadRequest, "InvalidAction", "this stand-in accepts only form-encoded POST requests"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, &stsError{http.StatusBadRequest, "MalformedQueryString", "cannot read the request body"}
	}
	if len(body) > maxFormBytes {
		return nil, &stsError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the request body is too large"}
	}
	// The form is read before the signature is checked only to name the
	// request in the log; nothing is acted on until it verifies.
	form, formErr := url.ParseQuery(string(body))
	if formErr == nil {
		rq.action, rq.role = form.Get("Action"), form.Get("RoleArn")
	}
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil, &stsError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	}
	rq.keyID = m[1]
	scopeRegion, service, signedHeaders := m[3], m[4], m[5]
	if s.KeyID == "" || rq.keyID != s.KeyID {
		return nil, &stsError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	if scopeRegion != s.region() || service != "sts" {
		return nil, &stsError{http.StatusForbidden, "SignatureDoesNotMatch",
			fmt.Sprintf("Credential should be scoped to a valid region and service (%s/sts), not %s/%s.", s.region(), scopeRegion, service)}
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return nil, &stsError{http.StatusForbidden, "SignatureDoesNotMatch", "X-Amz-Date is missing or not in the basic ISO 8601 format."}
	}
	now := s.now()
	if d := now.Sub(signedAt); d > maxSkew || d < -maxSkew {
		return nil, &stsError{http.StatusForbidden, "SignatureDoesNotMatch",
			fmt.Sprintf("Signature expired: %s is not within %s of %s.", signedAt.Format("20060102T150405Z"), maxSkew, now.UTC().Format("20060102T150405Z"))}
	}
	if !SigV4Matches(r, body, aws.Credentials{AccessKeyID: s.KeyID, SecretAccessKey: s.SecretKey}, "sts", s.region(), signedHeaders, signedAt) {
		return nil, &stsError{http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	rq.verified = true
	if formErr != nil {
		return nil, &stsError{http.StatusBadRequest, "MalformedQueryString", "the body is not a form"}
	}
	if v := form.Get("Version"); v != stsVersion {
		return nil, &stsError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Version must be %s.", stsVersion)}
	}
	switch rq.action {
	case "GetSessionToken":
		return s.getSessionToken(form, now)
	case "AssumeRole":
		return s.assumeRole(form, now)
	}
	return nil, &stsError{http.StatusBadRequest, "InvalidAction", "Could not find operation " + strconv.Quote(rq.action) + "."}
}

// SigV4Matches re-signs a copy of r (whose body was read into body), with
// the headers it says it signed and its signing time, with creds for
// service and region, and compares the Authorization headers: the signer
// is the SDK's own, so this checks the canonical request, the scope and the
// key derivation at once.
func SigV4Matches(r *http.Request, body []byte, creds aws.Credentials, service, region, signedHeaders string, signedAt time.Time) bool {
	return SigV4MatchesPayload(r, body, "", creds, service, region, signedHeaders, signedAt)
}

// SigV4MatchesPayload is SigV4Matches with the payload hash the request
// declared (X-Amz-Content-Sha256): UNSIGNED-PAYLOAD leaves the body out of
// the signature, as S3 allows; "" or a hash means the body's own hash, so
// a wrong declared hash does not match.
func SigV4MatchesPayload(r *http.Request, body []byte, declared string, creds aws.Credentials, service, region, signedHeaders string, signedAt time.Time) bool {
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	cp.Host = r.Host
	cp.ContentLength = r.ContentLength
	for _, h := range strings.Split(signedHeaders, ";") {
		// The signer adds both from the request itself.
		if h == "host" || h == "content-length" {
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			cp.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if declared == "UNSIGNED-PAYLOAD" {
		hash = declared
	}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, cp, hash, service, region, signedAt, func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = service == "s3"
	})
	return err == nil && hmac.Equal([]byte(cp.Header.Get("Authorization")), []byte(r.Header.Get("Authorization")))
}

func (s *STS) getSessionToken(form url.Values, now time.Time) (*issued, *stsError) {
	d, serr := duration(form, maxSessionTokenDuration)
	if serr != nil {
		return nil, serr
	}
	c := newCredentials(now.Add(d))
	s.remember(c)
	return &issued{
		response: &getSessionTokenResponse{
			XMLNS:     stsNS,
			Result:    credentialsResult{Credentials: c},
			RequestID: requestID(),
		},
		accessKeyID: c.AccessKeyID,
		expiration:  c.Expiration,
	}, nil
}

func (s *STS) assumeRole(form url.Values, now time.Time) (*issued, *stsError) {
	role, name := form.Get("RoleArn"), form.Get("RoleSessionName")
	m := roleARNRE.FindStringSubmatch(role)
	if m == nil {
		return nil, &stsError{http.StatusBadRequest, "ValidationError", "RoleArn is not an IAM role ARN."}
	}
	if !sessionNameRE.MatchString(name) {
		return nil, &stsError{http.StatusBadRequest, "ValidationError", "RoleSessionName must be 2-64 characters of [\\w+=,.@-]."}
	}
	d, serr := duration(form, maxAssumeRoleDuration)
	if serr != nil {
		return nil, serr
	}
	c := newCredentials(now.Add(d))
	s.remember(c)
	partition, account, roleName := m[1], m[2], m[3]
	return &issued{
		response: &assumeRoleResponse{
			XMLNS: stsNS,
			Result: assumeRoleResult{
				AssumedRoleUser: assumedRoleUser{
					Arn:           fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, roleName, name),
					AssumedRoleID: "AROA" + randomID(17) + ":" + name,
				},
				Credentials: c,
			},
			RequestID: requestID(),
		},
		accessKeyID: c.AccessKeyID,
		expiration:  c.Expiration,
	}, nil
}

// duration reads DurationSeconds within STS's bounds, defaulting to an
// hour.
func duration(form url.Values, maxSeconds int) (time.Duration, *stsError) {
	v := form.Get("DurationSeconds")
	if v == "" {
		return defaultDuration * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minDuration || n > maxSeconds {
		return 0, &stsError{http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("DurationSeconds must be between %d and %d.", minDuration, maxSeconds)}
	}
	return time.Duration(n) * time.Second, nil
}

func (s *STS) region() string {
	if s.Region == "" {
		return DefaultRegion
	}
	return s.Region
}

func (s *STS) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *STS) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(fmt.Sprintf(format, args...))
	}
}

type credentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// newCredentials makes temporary credentials shaped like STS's: an ASIA
// key ID, a 40-character secret and an opaque session token, all random,
// so that no two calls share any of them.
func newCredentials(expires time.Time) credentials {
	return credentials{
		AccessKeyID:     "ASIA" + randomID(16),
		SecretAccessKey: randomSecret(),
		SessionToken:    "FwoGZXIvYXdzE" + rand.Text() + rand.Text() + rand.Text(),
		Expiration:      expires.UTC().Format("2006-01-02T15:04:05Z"),
	}
}

type credentialsResult struct {
	Credentials credentials `xml:"Credentials"`
}

type getSessionTokenResponse struct {
	XMLName   xml.Name          `xml:"GetSessionTokenResponse"`
	XMLNS     string            `xml:"xmlns,attr"`
	Result    credentialsResult `xml:"GetSessionTokenResult"`
	RequestID string            `xml:"ResponseMetadata>RequestId"`
}

type assumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type assumeRoleResult struct {
	AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	Credentials     credentials     `xml:"Credentials"`
}

type assumeRoleResponse struct {
	XMLName   xml.Name         `xml:"AssumeRoleResponse"`
	XMLNS     string           `xml:"xmlns,attr"`
	Result    assumeRoleResult `xml:"AssumeRoleResult"`
	RequestID string           `xml:"ResponseMetadata>RequestId"`
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	XMLNS   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeSTSError(w http.ResponseWriter, e *stsError) {
	var out errorResponse
	out.XMLNS = stsNS
	out.Error.Type = "Sender"
	if e.status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message = e.code, e.message
	out.RequestID = requestID()
	body, err := xml.MarshalIndent(&out, "", "  ")
	if err != nil {
		// Only strings are encoded; this cannot happen.
		http.Error(w, e.code, e.status)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(body)
}

// NewAccessKey returns a random long-lived key pair shaped like an IAM
// user's: an AKIA key ID and a 40-character secret access key, neither of
// which needs quoting in a shell.
func NewAccessKey() (keyID, secretKey string) {
	return "AKIA" + randomID(16), randomSecret()
}

// randomID is n characters of the upper-case base32 alphabet AWS key IDs
// use.
func randomID(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(rand.Text())
	}
	return b.String()[:n]
}

// randomSecret is a 40-character secret in the alphabet of AWS secret
// access keys, none of whose characters needs quoting in a shell.
func randomSecret() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	buf := make([]byte, 40)
	_, _ = rand.Read(buf) // never fails (crypto/rand)
	for i, v := range buf {
		buf[i] = alphabet[int(v)%len(alphabet)]
	}
	return string(buf)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
