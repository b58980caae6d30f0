package mint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

// Defaults of aws_iam minting.
const (
	DefaultAWSRegion          = "us-east-1"
	DefaultAWSDurationSeconds = 3600
	// maxSessionNameLen is STS's limit on RoleSessionName.
	maxSessionNameLen = 64
)

// AWS mints temporary AWS credentials for aws_iam connectors from STS with
// the connector's long-lived key pair (clientId = access key ID,
// clientSecret = secret access key): GetSessionToken, or AssumeRole when
// extraParams.roleArn is set. The long-lived key only signs the request
// (SigV4); it is in neither the result nor any error.
//
// extraParams: region (default us-east-1), roleArn, roleSessionName
// (default "connectors-<connector name>"), externalId, durationSeconds
// (default 3600). The connector's url, when set, replaces the STS endpoint.
//
// Errors are classified as the oauth package classifies them: an STS error
// response (InvalidClientTokenId, AccessDenied, SignatureDoesNotMatch, …) is
// an *oauth.UpstreamError with STS's HTTP status, error code and message
// (502); a slow or unreachable endpoint wraps outbound.ErrTimeout or
// outbound.ErrUnreachable (504); a forbidden destination wraps
// netguard.ErrForbidden.
type AWS struct {
	// HTTP sends the STS requests; nil means outbound.NewClient with its
	// defaults.
	HTTP *http.Client

	defHTTP outbound.LazyClient
}

// Mint implements Minter.
func (a *AWS) Mint(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error) {
	if c.ClientID == "" || b.ClientSecret == "" {
		return nil, fmt.Errorf("aws: connector %s: an access key ID and a secret access key are required", c.Name)
	}
	params := c.ExtraParams
	region := params[connector.AWSParamRegion]
	if region == "" {
		region = DefaultAWSRegion
	}
	duration := int32(DefaultAWSDurationSeconds)
	if v, ok := params[connector.AWSParamDurationSeconds]; ok {
		d, err := connector.AWSDurationSeconds(v)
		if err != nil {
			return nil, fmt.Errorf("aws: connector %s: extraParams.%s %w", c.Name, connector.AWSParamDurationSeconds, err)
		}
		duration = d
	}

	base := a.httpClient()
	// A copy that shares the guarded transport but never follows a
	// redirect, whatever the given client says.
	hc := *base
	hc.CheckRedirect = outbound.NoRedirect
	endpoint := "STS"
	opts := sts.Options{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(c.ClientID, b.ClientSecret, ""),
		HTTPClient:  &hc,
		// One attempt, as for OAuth endpoints: retries with back-off would
		// outlast the token request timeout and the cache lease, and the
		// caller can retry.
		Retryer: aws.NopRetryer{},
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
			return nil, fmt.Errorf("aws: connector %s: url is not an absolute http(s) URL without credentials", c.Name)
		}
		endpoint = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		opts.BaseEndpoint = aws.String(c.URL)
	}
	client := sts.New(opts)

	var creds *AWSCredentials
	var err error
	if role := params[connector.AWSParamRoleARN]; role != "" {
		in := &sts.AssumeRoleInput{
			RoleArn:         aws.String(role),
			RoleSessionName: aws.String(sessionName(c)),
			DurationSeconds: aws.Int32(duration),
		}
		if id := params[connector.AWSParamExternalID]; id != "" {
			in.ExternalId = aws.String(id)
		}
		var out *sts.AssumeRoleOutput
		if out, err = client.AssumeRole(ctx, in); err == nil {
			creds = fromSTS(out.Credentials)
		}
	} else {
		var out *sts.GetSessionTokenOutput
		if out, err = client.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(duration)}); err == nil {
			creds = fromSTS(out.Credentials)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("aws: connector %s: %w", c.Name, stsError(ctx, endpoint, err, b.ClientSecret))
	}
	if creds == nil || creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" || creds.Expiration.IsZero() {
		return nil, fmt.Errorf("aws: connector %s: %w: %w", c.Name,
			&oauth.UpstreamError{Status: http.StatusOK, Description: "STS response has no complete credentials"}, oauth.ErrInvalidResponse)
	}
	if creds.SecretAccessKey == b.ClientSecret {
		// Never hand out the long-lived key, even from a misbehaving endpoint.
		return nil, fmt.Errorf("aws: connector %s: %w: %w", c.Name,
			&oauth.UpstreamError{Status: http.StatusOK, Description: "STS returned the long-lived key instead of temporary credentials"}, oauth.ErrInvalidResponse)
	}
	return &Minted{Credential: Credential{AWS: creds, Expiry: creds.Expiration}}, nil
}

func (a *AWS) httpClient() *http.Client {
	return a.defHTTP.Client(a.HTTP)
}

// fromSTS copies STS's credentials; nil when STS sent none.
func fromSTS(c *types.Credentials) *AWSCredentials {
	if c == nil {
		return nil
	}
	return &AWSCredentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      aws.ToTime(c.Expiration),
	}
}

// sessionName is the RoleSessionName: the configured one, else one naming
// the connector, which CloudTrail then shows.
func sessionName(c *connector.Connector) string {
	if n := c.ExtraParams[connector.AWSParamRoleSessionName]; n != "" {
		return n
	}
	n := "connectors-" + c.Name
	if len(n) > maxSessionNameLen {
		n = n[:maxSessionNameLen]
	}
	return n
}

// stsError classifies a failed STS call. The SDK's own error text is kept
// only for transport failures (it names the endpoint and the network
// error); an STS error response becomes an UpstreamError with STS's code
// and sanitised message, with the secret key redacted should it ever
// appear.
func stsError(ctx context.Context, endpoint string, err error, secretKey string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		status := 0
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		e := &oauth.UpstreamError{
			Status:      status,
			Code:        outbound.Sanitize(ae.ErrorCode(), 100, secretKey),
			Description: outbound.Sanitize(ae.ErrorMessage(), 300, secretKey),
		}
		if e.Code == "" && e.Description == "" {
			e.Description = fmt.Sprintf("STS answered HTTP %d", status)
		}
		return e
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		status := http.StatusOK
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		// The decoder's error may quote the body: not wrapped.
		switch {
		case status >= 300 && status <= 399:
			return &oauth.UpstreamError{Status: status, Description: "STS endpoint redirected; redirects are not followed"}
		case status < 200 || status > 299:
			return &oauth.UpstreamError{Status: status, Description: fmt.Sprintf("STS answered HTTP %d without a readable error", status)}
		}
		return fmt.Errorf("%w: %w", &oauth.UpstreamError{Status: status, Description: "STS response cannot be parsed"}, oauth.ErrInvalidResponse)
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) || outbound.IsTimeout(err) || ctx.Err() != nil {
		return outbound.TransportError(ctx, endpoint, err)
	}
	return fmt.Errorf("STS request failed: %s", outbound.Sanitize(err.Error(), 300, secretKey))
}
