package connector

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/secret"

	"connectors.dev/connectors/shared/errkind"
)

// FieldError is a validation failure of one field. Its message never quotes
// a write-only value.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrorKind implements errkind.Kinded.
func (e *FieldError) ErrorKind() errkind.Kind { return errkind.InvalidArgument }

// ErrorField implements errkind.Fielded.
func (e *FieldError) ErrorField() string { return e.Field }

// PublicMessage implements errkind.Public: validation messages name the
// rule, never a secret value.
func (e *FieldError) PublicMessage() string { return e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Options are the deployment's validation settings.
type Options struct {
	// AllowInsecureURLs permits http:// token URLs to loopback hosts (local
	// development only).
	AllowInsecureURLs bool
}

// Limits on field sizes. Generous for real providers, small enough that a
// connector always fits in one Firestore document and one request body.
const (
	MaxNameLen         = 64
	MaxAgents          = 100
	MaxAgentLen        = 128
	MaxURLLen          = 2048
	MaxScopeLen        = 2048
	MaxClientIDLen     = 1024
	MaxUsernameLen     = 256
	MaxExtraParams     = 32
	MaxExtraKeyLen     = 64
	MaxExtraValueLen   = 2048
	MaxClientSecretLen = 16 << 10 // a service-account JSON key is ~2.3 KiB
	MaxTokenLen        = 8 << 10
)

var (
	grantNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`) // RFC 6749 §A.10 grant-name
	paramRE     = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
	accessKeyRE = regexp.MustCompile(`^[A-Za-z0-9_]{3,128}$`)
	saEmailRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$`)
)

// reservedParams are set by the minting code itself; letting extraParams
// override them would let metadata smuggle a different grant or credential.
// They are compared case-insensitively (IsReservedParam): some token
// endpoints read parameter names that way, so GRANT_TYPE would override too.
var reservedParams = map[string]bool{
	"grant_type": true, "client_id": true, "client_secret": true,
	"refresh_token": true, "username": true, "password": true, "scope": true,
	// Client assertions (RFC 7523) and the authorization-code exchange.
	"client_assertion": true, "client_assertion_type": true,
	"code": true, "code_verifier": true, "redirect_uri": true,
}

// IsReservedParam reports whether an extraParams name is, in any case, one
// of the parameters the minting code sets itself.
func IsReservedParam(name string) bool {
	return reservedParams[strings.ToLower(name)]
}

// IsOAuth reports whether the grant type is minted at an OAuth token
// endpoint (everything but the cloud special types).
func IsOAuth(grantType string) bool {
	return grantType != GrantGCSServiceAccount && grantType != GrantAWSIAM
}

// Validate checks every rule of docs/api.md on c. b holds the write-only values
// when they are known; when b is nil (an update that did not touch them)
// only their presence flags are checked. The first failure is returned.
func Validate(c *Connector, b *secret.Bundle, opts Options) error {
	checks := []func() *FieldError{
		func() *FieldError { return validateName(c.Name) },
		func() *FieldError { return validateAgents(c.Agents) },
		func() *FieldError { return validateGrantType(c.GrantType) },
		func() *FieldError { return validateURL(c, opts) },
		func() *FieldError { return validateAPIBaseURL(c.APIBaseURL, opts) },
		func() *FieldError { return validateContentType(c.ContentType) },
		func() *FieldError { return validateScope(c.Scope) },
		func() *FieldError { return validateClientID(c) },
		func() *FieldError { return validateClientAuth(c, b) },
		func() *FieldError { return validateLifecycle(c, b) },
		func() *FieldError { return validateAuthorization(c, opts) },
		func() *FieldError { return validateText("username", c.Username, MaxUsernameLen) },
		func() *FieldError { return validateServiceAccountEmail(c.ServiceAccountEmail) },
		func() *FieldError { return validateExtraParams(c.ExtraParams) },
		func() *FieldError { return validateAWSParams(c) },
		func() *FieldError { return validateSecrets(c, b, opts) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// ValidateName checks a connector name on its own (get, delete, rename).
func ValidateName(name string) error {
	if err := validateName(name); err != nil {
		return err
	}
	return nil
}

func validateName(name string) *FieldError {
	if name != "" && len(name) <= MaxNameLen && isIdentifier(name) {
		return nil // every rule below holds for an identifier; checked first, as most names are one
	}
	switch {
	case name == "":
		return fieldErr("name", "is required")
	case len(name) > MaxNameLen:
		return fieldErr("name", "must be at most %d characters", MaxNameLen)
	case strings.ContainsFunc(name, unicode.IsSpace):
		return fieldErr("name", "must not contain spaces; use an identifier such as MyServiceOAuth")
	case !isIdentifier(name):
		return fieldErr("name", "must start with a letter or _ and contain only letters, digits and _")
	}
	return nil
}

// isIdentifier reports whether name matches ^[A-Za-z_][A-Za-z0-9_]*$; a
// loop, not a regexp, because every token request checks a name.
func isIdentifier(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return name != ""
}

func validateAgents(agents []string) *FieldError {
	if len(agents) > MaxAgents {
		return fieldErr("agents", "must list at most %d agents", MaxAgents)
	}
	for i, a := range agents {
		if err := validateAgentID(a); err != nil {
			return fieldErr(fmt.Sprintf("agents[%d]", i), "%s", err.Message)
		}
	}
	return nil
}

// ValidateAgent checks one agent ID (list filters, token requests).
func ValidateAgent(field, agent string) error {
	if err := validateAgentID(agent); err != nil {
		return fieldErr(field, "%s", err.Message)
	}
	return nil
}

func validateAgentID(a string) *FieldError {
	if a != "" && len(a) <= MaxAgentLen && isPrintableASCII(a) {
		return nil // no space and no control character: the rules below hold
	}
	switch {
	case a == "":
		return fieldErr("agent", "must not be empty")
	case len(a) > MaxAgentLen:
		return fieldErr("agent", "must be at most %d characters", MaxAgentLen)
	case strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fieldErr("agent", "must not contain spaces or control characters")
	}
	return nil
}

// isPrintableASCII reports whether s is made of bytes '!' to '~' only.
func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func validateGrantType(g string) *FieldError {
	switch {
	case g == "":
		return fieldErr("grantType", "is required (client_credentials, refresh_token, password, another OAuth grant type, gcs_service_account or aws_iam)")
	case len(g) > 256:
		return fieldErr("grantType", "must be at most 256 characters")
	case grantNameRE.MatchString(g):
		return nil
	}
	// RFC 6749 §4.5: extension grants are absolute URIs such as
	// urn:ietf:params:oauth:grant-type:jwt-bearer.
	u, err := url.Parse(g)
	if err != nil || u.Scheme == "" || strings.ContainsFunc(g, unicode.IsSpace) {
		return fieldErr("grantType", "must be a grant name (letters, digits, . _ -) or an absolute URI")
	}
	return nil
}

func validateURL(c *Connector, opts Options) *FieldError {
	raw := c.URL
	if raw == "" {
		if IsOAuth(c.GrantType) {
			return fieldErr("url", "is required for grant type %s: the token endpoint", c.GrantType)
		}
		return nil
	}
	if len(raw) > MaxURLLen {
		return fieldErr("url", "must be at most %d characters", MaxURLLen)
	}
	if msg := endpointProblem(raw, opts, "use clientId and clientSecret"); msg != "" {
		return fieldErr("url", "%s", msg)
	}
	return nil
}

// endpointProblem says what is wrong with an endpoint the service will send
// credentials to, or "" when nothing is: it must be an absolute https URL
// without credentials or fragment, or plain http to a loopback host when
// insecure URLs are allowed (local development), and its host must not be a
// forbidden destination. credHint tells where credentials go instead of
// the URL's user info.
func endpointProblem(raw string, opts Options, credHint string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute https URL"
	}
	if u.User != nil {
		return "must not carry credentials; " + credHint
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment (RFC 6749 §3.2)"
	}
	host := u.Hostname()
	loopback := netguard.IsLoopbackHost(host)
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback || !opts.AllowInsecureURLs {
			return "must use https (plain http is allowed only to loopback hosts in local development)"
		}
	default:
		return fmt.Sprintf("must use https, not %q", u.Scheme)
	}
	policy := netguard.Policy{AllowLoopback: opts.AllowInsecureURLs, AllowPrivate: true}
	if err := policy.CheckHost(host); err != nil {
		return fmt.Sprintf("host is not allowed: %v", err)
	}
	return ""
}

func validateContentType(ct string) *FieldError {
	if ct != ContentTypeForm && ct != ContentTypeJSON {
		return fieldErr("contentType", "must be %s or %s", ContentTypeForm, ContentTypeJSON)
	}
	return nil
}

// validateScope enforces RFC 6749 §3.3: space-separated tokens of NQCHAR.
func validateScope(scope string) *FieldError {
	if len(scope) > MaxScopeLen {
		return fieldErr("scope", "must be at most %d characters", MaxScopeLen)
	}
	for _, tok := range strings.Split(scope, " ") {
		for _, r := range tok {
			if r < 0x21 || r == 0x22 || r == 0x5c || r > 0x7e {
				return fieldErr("scope", "must be space-separated scope tokens of printable ASCII without \" or \\ (RFC 6749 §3.3)")
			}
		}
	}
	return nil
}

func validateClientID(c *Connector) *FieldError {
	if err := validateText("clientId", c.ClientID, MaxClientIDLen); err != nil {
		return err
	}
	switch c.GrantType {
	case GrantAWSIAM:
		if c.ClientID == "" {
			return fieldErr("clientId", "is required for aws_iam: the AWS access key ID")
		}
		if !accessKeyRE.MatchString(c.ClientID) {
			return fieldErr("clientId", "must be an AWS access key ID (letters and digits)")
		}
	case GrantClientCredentials:
		if c.ClientID == "" {
			return fieldErr("clientId", "is required for client_credentials")
		}
	}
	return nil
}

func validateText(field, v string, max int) *FieldError {
	if len(v) > max {
		return fieldErr(field, "must be at most %d characters", max)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fieldErr(field, "must not contain control characters")
	}
	return nil
}

func validateServiceAccountEmail(email string) *FieldError {
	if email != "" && !saEmailRE.MatchString(email) {
		return fieldErr("serviceAccountEmail", "must be a Google service account email (NAME@PROJECT.iam.gserviceaccount.com)")
	}
	return nil
}

func validateExtraParams(params map[string]string) *FieldError {
	if len(params) > MaxExtraParams {
		return fieldErr("extraParams", "must have at most %d entries", MaxExtraParams)
	}
	folded := make(map[string]string, len(params))
	for _, k := range sortedKeys(params) {
		field := "extraParams." + k
		lower := strings.ToLower(k)
		other, repeated := folded[lower]
		folded[lower] = k
		switch {
		case k == "" || len(k) > MaxExtraKeyLen || !paramRE.MatchString(k):
			return fieldErr("extraParams", "parameter names must be 1-%d characters of letters, digits, . _ ~ -", MaxExtraKeyLen)
		case IsReservedParam(k):
			return fieldErr(field, "is set from the connector's own fields and cannot be overridden (names are compared ignoring case)")
		case repeated:
			// A provider reading names case-insensitively would see one
			// parameter twice and pick either value.
			return fieldErr(field, "repeats extraParams.%s; parameter names are compared ignoring case", other)
		case len(params[k]) > MaxExtraValueLen:
			return fieldErr(field, "must be at most %d characters", MaxExtraValueLen)
		case strings.IndexFunc(params[k], unicode.IsControl) >= 0:
			return fieldErr(field, "must not contain control characters")
		}
	}
	return nil
}

func validateSecrets(c *Connector, b *secret.Bundle, opts Options) *FieldError {
	if b != nil {
		switch {
		case len(b.ClientSecret) > MaxClientSecretLen:
			return fieldErr("clientSecret", "must be at most %d bytes", MaxClientSecretLen)
		case len(b.RefreshToken) > MaxTokenLen:
			return fieldErr("refreshToken", "must be at most %d bytes", MaxTokenLen)
		case len(b.Password) > MaxTokenLen:
			return fieldErr("password", "must be at most %d bytes", MaxTokenLen)
		}
	}
	switch c.GrantType {
	case GrantRefreshToken:
		// With authorizationUrl the connect flow stores it later.
		if !c.HasRefreshToken && c.AuthorizationURL == "" {
			return fieldErr("refreshToken", "is required for grant type refresh_token (or set authorizationUrl and connect the account)")
		}
	case GrantPassword:
		if c.Username == "" {
			return fieldErr("username", "is required for grant type password")
		}
		if !c.HasPassword {
			return fieldErr("password", "is required for grant type password")
		}
	case GrantClientCredentials:
		if !c.HasClientSecret {
			return fieldErr("clientSecret", "is required for client_credentials")
		}
	case GrantAWSIAM:
		if !c.HasClientSecret {
			return fieldErr("clientSecret", "is required for aws_iam: the AWS secret access key")
		}
	case GrantGCSServiceAccount:
		if !c.HasClientSecret {
			return fieldErr("clientSecret", "is required for gcs_service_account: the service account's JSON key")
		}
		if b != nil {
			return validateServiceAccountKey(b.ClientSecret, opts)
		}
	}
	return nil
}

// ServiceAccountKey is the part of a Google service-account JSON key the
// service relies on.
type ServiceAccountKey struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// DefaultTokenURI is where a service-account key without "token_uri" sends
// its signed JWT (RFC 7523), as golang.org/x/oauth2/google does.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// validateServiceAccountKey never quotes the key: even a parse error's
// offset context could contain part of it.
func validateServiceAccountKey(raw string, opts Options) *FieldError {
	var key ServiceAccountKey
	if err := json.Unmarshal([]byte(raw), &key); err != nil {
		return fieldErr("clientSecret", "must be the service account's JSON key file content (it is not valid JSON)")
	}
	if key.Type != "service_account" {
		return fieldErr("clientSecret", `must be a service account key: "type" must be "service_account"`)
	}
	if key.ClientEmail == "" || !strings.Contains(key.ClientEmail, "@") {
		return fieldErr("clientSecret", `service account key has no valid "client_email"`)
	}
	block, _ := pem.Decode([]byte(key.PrivateKey))
	if block == nil {
		return fieldErr("clientSecret", `service account key's "private_key" is not a PEM block`)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 != nil {
			return fieldErr("clientSecret", `service account key's "private_key" cannot be parsed`)
		}
	}
	// The key, not the connector's url, decides where the signed assertion
	// goes, so it gets the same destination rules as a token URL: a key
	// pointing at an internal address would otherwise be an SSRF vector.
	if key.TokenURI != "" {
		if len(key.TokenURI) > MaxURLLen {
			return fieldErr("clientSecret", `service account key's "token_uri" must be at most %d characters`, MaxURLLen)
		}
		if msg := endpointProblem(key.TokenURI, opts, "the key signs its own assertion"); msg != "" {
			return fieldErr("clientSecret", `service account key's "token_uri" %s`, msg)
		}
	}
	return nil
}

// Extra parameters an aws_iam connector understands. They configure the STS
// call, and (service, region) the proxy's SigV4 signature; none is sent
// anywhere as is.
const (
	AWSParamService         = "service"
	AWSParamRegion          = "region"
	AWSParamRoleARN         = "roleArn"
	AWSParamRoleSessionName = "roleSessionName"
	AWSParamExternalID      = "externalId"
	AWSParamDurationSeconds = "durationSeconds"
)

// Bounds of aws_iam's durationSeconds: STS's minimum, and AssumeRole's
// maximum (a role's maximum session duration cannot exceed 12 hours).
const (
	MinAWSDurationSeconds = 900
	MaxAWSDurationSeconds = 43200
)

var (
	// awsRegionRE accepts the shapes of AWS region names across partitions:
	// us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1.
	awsServiceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)
	awsRegionRE  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)
	// awsRoleARNRE: an IAM role ARN in any partition, with an optional path.
	awsRoleARNRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	// awsSessionNameRE and awsExternalIDRE are STS's own constraints; checking
	// them here turns an opaque upstream ValidationError into a field error.
	awsSessionNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{2,64}$`)
	awsExternalIDRE  = regexp.MustCompile(`^[A-Za-z0-9+=,.@:/_-]{2,}$`) // and at most 1224
)

// validateAWSParams checks the extra parameters aws_iam minting reads. Other
// grant types may use the same names for their own provider, so only
// aws_iam connectors are checked.
func validateAWSParams(c *Connector) *FieldError {
	if c.GrantType != GrantAWSIAM {
		return nil
	}
	p := c.ExtraParams
	if v, ok := p[AWSParamService]; ok && !awsServiceRE.MatchString(v) {
		return fieldErr("extraParams."+AWSParamService, "must be an AWS service's signing name such as s3, execute-api or bedrock")
	}
	if c.APIBaseURL != "" {
		// The proxy signs each request with SigV4 for a service and region.
		for _, k := range []string{AWSParamService, AWSParamRegion} {
			if p[k] == "" {
				return fieldErr("extraParams."+k, "is required with apiBaseUrl: the proxy signs requests (SigV4) for extraParams.%s and extraParams.%s", AWSParamService, AWSParamRegion)
			}
		}
	}
	if v, ok := p[AWSParamRegion]; ok && !awsRegionRE.MatchString(v) {
		return fieldErr("extraParams."+AWSParamRegion, "must be an AWS region such as us-east-1")
	}
	if v, ok := p[AWSParamRoleARN]; ok && !awsRoleARNRE.MatchString(v) {
		return fieldErr("extraParams."+AWSParamRoleARN, "must be an IAM role ARN such as arn:aws:iam::123456789012:role/NAME")
	}
	if v, ok := p[AWSParamRoleSessionName]; ok && !awsSessionNameRE.MatchString(v) {
		return fieldErr("extraParams."+AWSParamRoleSessionName, "must be 2-64 characters of letters, digits and + = , . @ _ -")
	}
	if v, ok := p[AWSParamExternalID]; ok && (len(v) > 1224 || !awsExternalIDRE.MatchString(v)) {
		return fieldErr("extraParams."+AWSParamExternalID, "must be 2-1224 characters of letters, digits and + = , . @ : / _ -")
	}
	for _, k := range []string{AWSParamRoleSessionName, AWSParamExternalID} {
		if _, ok := p[k]; ok && p[AWSParamRoleARN] == "" {
			return fieldErr("extraParams."+k, "is used only with extraParams.%s (AssumeRole)", AWSParamRoleARN)
		}
	}
	if v, ok := p[AWSParamDurationSeconds]; ok {
		if _, err := AWSDurationSeconds(v); err != nil {
			return fieldErr("extraParams."+AWSParamDurationSeconds, "%s", err.Error())
		}
	}
	return nil
}

// AWSDurationSeconds parses aws_iam's durationSeconds parameter.
func AWSDurationSeconds(v string) (int32, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < MinAWSDurationSeconds || n > MaxAWSDurationSeconds {
		return 0, fmt.Errorf("must be a whole number of seconds from %d to %d", MinAWSDurationSeconds, MaxAWSDurationSeconds)
	}
	return int32(n), nil
}
