package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

// MaxResponseBytes caps a token response body. Real token responses are a
// few KiB; a larger body is refused rather than truncated (x/oauth2 silently
// truncates at the same size), and no more than this is ever buffered.
const MaxResponseBytes = 1 << 20

const (
	// maxDescriptionRunes bounds a provider's error_description: enough for
	// any real explanation, too little to carry a dumped request.
	maxDescriptionRunes = 300
	// maxCodeRunes bounds a provider's error code (RFC 6749 codes are short).
	maxCodeRunes = 100
	// maxExpiresIn caps expires_in at what x/oauth2 accepts (about 68
	// years), so that the expiry time cannot overflow.
	maxExpiresIn = math.MaxInt32
)

// UpstreamError is the provider's refusal to issue a token: an RFC 6749 §5.2
// error response, any non-2xx status (a 3xx included: redirects are never
// followed), or a 2xx whose body is not a usable token response (then it
// wraps ErrInvalidResponse and Code is empty).
//
// Code and Description come from the provider's error and
// error_description, sanitised: control characters removed, truncated, and
// the connector's secret values replaced by "[redacted]" (see
// outbound.Redactor). When the provider
// gave neither, Description is a generic text for the status; the raw body
// is never quoted.
type UpstreamError struct {
	Status      int
	Code        string
	Description string
	err         error
}

// ErrorKind implements errkind.Kinded: the provider refused or failed.
func (e *UpstreamError) ErrorKind() errkind.Kind { return errkind.Upstream }

// PublicMessage implements errkind.Public.
func (e *UpstreamError) PublicMessage() string {
	if e.err != nil {
		return "the token provider's answer is not a usable token response"
	}
	return "the token provider refused to issue a credential"
}

// UpstreamAnswer implements errkind.UpstreamAnswer: the provider's status
// and its RFC 6749 error, which the caller sees to fix the connector.
func (e *UpstreamError) UpstreamAnswer() (status int, code, description string) {
	return e.Status, e.Code, e.Description
}

func (e *UpstreamError) Error() string {
	var b strings.Builder
	if e.err != nil {
		fmt.Fprintf(&b, "oauth: unusable token response (HTTP %d)", e.Status)
	} else {
		fmt.Fprintf(&b, "oauth: token endpoint refused (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// Unwrap returns ErrInvalidResponse for unusable 2xx responses, else nil.
func (e *UpstreamError) Unwrap() error { return e.err }

// ParseTokenResponse parses a token endpoint's answer (RFC 6749 §5.1, §5.2)
// with the tolerance real providers need: JSON by default, form-encoded
// bodies when the Content-Type says application/x-www-form-urlencoded or
// text/plain (GitHub style), expires_in as a number or numeric string.
// Missing or zero expires_in means defaultLifetime (DefaultLifetime when
// that is not positive). It reads at most MaxResponseBytes+1 bytes of body.
//
// Without the connector's secrets at hand it cannot redact them from error
// texts; Client.Mint does.
func ParseTokenResponse(status int, h http.Header, body io.Reader, now time.Time, defaultLifetime time.Duration) (*Result, error) {
	data, tooLarge, err := readBody(body)
	if err != nil {
		return nil, fmt.Errorf("oauth: read token response: %w", err)
	}
	if defaultLifetime <= 0 {
		defaultLifetime = DefaultLifetime
	}
	return parseTokenResponse(status, h, data, tooLarge, now, defaultLifetime, outbound.Redactor{})
}

// readBody reads at most MaxResponseBytes+1 bytes; tooLarge reports a body
// over the limit, whose content is then dropped.
func readBody(r io.Reader) (data []byte, tooLarge bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxResponseBytes {
		return nil, true, nil
	}
	return data, false, nil
}

func parseTokenResponse(status int, h http.Header, body []byte, tooLarge bool, now time.Time, lifetime time.Duration, red outbound.Redactor) (*Result, error) {
	success := status >= 200 && status <= 299
	switch {
	case status >= 300 && status <= 399:
		return nil, &UpstreamError{Status: status, Description: fmt.Sprintf("token endpoint redirected (%s); redirects are not followed", statusText(status))}
	case tooLarge && success:
		return nil, invalidResponse(status, "token response body exceeds 1 MiB")
	case tooLarge:
		return nil, refusal(red, status, "", "")
	}

	f, perr := parseFields(h.Get("Content-Type"), body)
	if !success {
		return nil, refusal(red, status, f.errCode, f.errDesc)
	}
	// Some providers answer 200 with an RFC 6749 error body (x/oauth2 has
	// the same check). A token in the same body must not leak either.
	if f.hasError {
		return nil, refusal(red.With(f.accessToken, f.refreshToken), status, f.errCode, f.errDesc)
	}
	if perr != nil {
		return nil, invalidResponse(status, perr.Error())
	}

	res := &Result{AccessToken: f.accessToken, RefreshToken: f.refreshToken}
	switch {
	case f.accessToken == "":
		return nil, invalidResponse(status, "token response has no access_token")
	case !isVSCHAR(f.accessToken):
		// RFC 6749 §A.12; a CR or LF here would let the token inject headers
		// wherever an agent uses it.
		return nil, invalidResponse(status, "access_token has characters outside RFC 6749 VSCHAR")
	case !isVSCHAR(f.refreshToken) && f.refreshToken != "":
		return nil, invalidResponse(status, "refresh_token has characters outside RFC 6749 VSCHAR")
	}

	switch tt := f.tokenType; {
	case tt == "" || strings.EqualFold(tt, "bearer"):
		// RFC 6749 §5.1 says token_type is case-insensitive; Bearer is also
		// what x/oauth2 assumes when it is missing.
		res.TokenType = "Bearer"
	case isTypeName(tt):
		res.TokenType = tt
	default:
		return nil, invalidResponse(status, "token_type is not an RFC 6749 type name")
	}

	if !isVSCHAR(f.scope) {
		return nil, invalidResponse(status, "scope has characters outside RFC 6749 §3.3")
	}
	res.Scope = f.scope

	secs, err := parseExpiresIn(f.expiresIn)
	if err != nil {
		return nil, invalidResponse(status, err.Error())
	}
	if secs == 0 {
		res.Expiry = now.Add(lifetime)
	} else {
		res.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	return res, nil
}

func invalidResponse(status int, msg string) *UpstreamError {
	return &UpstreamError{Status: status, Description: msg, err: ErrInvalidResponse}
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return fmt.Sprintf("HTTP status %d", status)
}

// fields are the RFC 6749 §5.1/§5.2 parameters of a response, as strings.
type fields struct {
	accessToken, tokenType, refreshToken, scope string
	expiresIn                                   string // "" when missing or null
	hasError                                    bool   // an error parameter is present
	errCode, errDesc                            string
}

// parseFields extracts the parameters. The error fields are extracted
// leniently (whatever is a string); err reports the first problem with the
// success fields and never quotes the body.
func parseFields(contentType string, body []byte) (fields, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		return parseForm(body)
	case mt == "text/plain" && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
		// x/oauth2 reads text/plain as a form (some providers label their
		// form bodies so); a JSON object mislabelled text/plain is read as
		// JSON instead of failing.
		return parseForm(body)
	default:
		return parseJSON(body)
	}
}

func parseForm(body []byte) (fields, error) {
	vals, perr := url.ParseQuery(string(body))
	f := fields{
		accessToken:  vals.Get("access_token"),
		tokenType:    vals.Get("token_type"),
		refreshToken: vals.Get("refresh_token"),
		scope:        vals.Get("scope"),
		expiresIn:    vals.Get("expires_in"),
		errCode:      vals.Get("error"),
		errDesc:      vals.Get("error_description"),
	}
	f.hasError = f.errCode != ""
	if perr != nil {
		// url.ParseQuery's error quotes the offending part of the body.
		return f, errors.New("token response is not a valid form body")
	}
	// RFC 6749 §3.1: parameters must not be repeated; taking one of two
	// access tokens at random is not tolerance but a guess.
	for _, k := range []string{"access_token", "token_type", "refresh_token", "scope", "expires_in"} {
		if len(vals[k]) > 1 {
			return f, fmt.Errorf("token response repeats %s", k)
		}
	}
	return f, nil
}

func parseJSON(body []byte) (fields, error) {
	var m map[string]json.RawMessage
	// encoding/json's errors may quote bytes of the body: never wrap them.
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return fields{}, errors.New("token response is not a JSON object")
	}
	var f fields
	var perr error
	fail := func(msg string) {
		if perr == nil {
			perr = errors.New(msg)
		}
	}

	code, ok := jsonString(m["error"])
	f.errCode = code
	// A non-string error (some APIs send an object) is still an error.
	f.hasError = code != "" || (!ok && !isJSONNull(m["error"]))
	f.errDesc, _ = jsonString(m["error_description"])

	for _, p := range []struct {
		key string
		dst *string
	}{{"access_token", &f.accessToken}, {"token_type", &f.tokenType}, {"refresh_token", &f.refreshToken}} {
		v, ok := jsonString(m[p.key])
		if !ok {
			fail(p.key + " is not a string")
		}
		*p.dst = v
	}

	if raw := m["scope"]; !isJSONNull(raw) {
		if v, ok := jsonString(raw); ok {
			f.scope = v
		} else if list, ok := jsonStringList(raw); ok {
			// A few providers return the granted scopes as an array.
			f.scope = strings.Join(list, " ")
		} else {
			fail("scope is not a string")
		}
	}

	if raw := bytes.TrimSpace(m["expires_in"]); !isJSONNull(raw) {
		switch {
		case raw[0] == '"':
			// PayPal and others send a numeric string.
			f.expiresIn, _ = jsonString(raw)
		case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
			f.expiresIn = string(raw)
		default:
			fail("expires_in is not a number")
		}
	}
	return f, perr
}

func isJSONNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonString decodes a JSON string; a missing or null value is "", true.
func jsonString(raw json.RawMessage) (string, bool) {
	if isJSONNull(raw) {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func jsonStringList(raw json.RawMessage) ([]string, bool) {
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false
	}
	return list, true
}

// parseExpiresIn returns the lifetime in seconds; 0 means "use the default"
// (missing, empty or zero). Negative and non-numeric values are errors:
// guessing a lifetime for them could cache a dead token.
func parseExpiresIn(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Decimals ("3600.0") and out-of-range integers; nothing else
		// strconv.ParseFloat accepts (hex, Inf, NaN) is a number here.
		if strings.Trim(s, "0123456789.eE+-") != "" {
			return 0, errors.New("expires_in is not a number")
		}
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil && !errors.Is(ferr, strconv.ErrRange) {
			return 0, errors.New("expires_in is not a number")
		}
		switch {
		case f < 0:
			n = -1
		case f > maxExpiresIn:
			n = maxExpiresIn
		default:
			n = int64(f)
		}
	}
	switch {
	case n < 0:
		return 0, errors.New("expires_in is negative")
	case n > maxExpiresIn:
		return maxExpiresIn, nil
	}
	return n, nil
}

// isVSCHAR reports whether s is RFC 6749 VSCHAR (%x20-7E) only.
func isVSCHAR(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isTypeName reports whether s is an RFC 6749 §A.7 type-name.
func isTypeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '.' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// newRedactor removes conn's secrets from the provider's error texts, and
// the Basic credentials as they were sent.
func newRedactor(conn *connector.Connector, b secret.Bundle) outbound.Redactor {
	r := outbound.Redactor{}.With(b.ClientSecret, b.RefreshToken, b.Password, b.NextClientSecret)
	if b.ClientSecret != "" {
		raw := conn.ClientID + ":" + b.ClientSecret
		r = r.WithExact(basicCredentials(conn.ClientID, b.ClientSecret),
			base64.StdEncoding.EncodeToString([]byte(raw)), base64.RawStdEncoding.EncodeToString([]byte(raw)))
	}
	return r
}

// refusal builds the UpstreamError for a refusal, its texts cleaned by red.
func refusal(red outbound.Redactor, status int, code, desc string) *UpstreamError {
	e := &UpstreamError{Status: status, Code: red.Clean(code, maxCodeRunes), Description: red.Clean(desc, maxDescriptionRunes)}
	if e.Code == "" && e.Description == "" {
		e.Description = statusText(status)
	}
	return e
}
