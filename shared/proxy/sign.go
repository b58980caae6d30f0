package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
)

// unsignedPayload is SigV4's marker for a body streamed without its hash
// (S3 accepts it; a body the proxy kept is always hashed).
const unsignedPayload = "UNSIGNED-PAYLOAD"

// authorize puts the connector's credential on req: an OAuth token (or a
// service account's Google access token) as "Authorization: <type>
// <token>", or, for aws_iam, a SigV4 signature for the service and region
// of the connector's extraParams. kept is the request body the proxy kept
// whole (nil for none); streamed says it kept only its start. Only SigV4
// hashes the body, and only a kept one.
func authorize(ctx context.Context, req *http.Request, conn *connector.Connector, c *mint.Credential, kept []byte, streamed bool, now time.Time) error {
	if c.AWS != nil {
		hash := unsignedPayload
		if !streamed {
			sum := sha256.Sum256(kept)
			hash = hex.EncodeToString(sum[:])
		}
		req.Header.Set("X-Amz-Content-Sha256", hash)
		creds := aws.Credentials{AccessKeyID: c.AWS.AccessKeyID, SecretAccessKey: c.AWS.SecretAccessKey, SessionToken: c.AWS.SessionToken}
		service, region := conn.ExtraParams[connector.AWSParamService], conn.ExtraParams[connector.AWSParamRegion]
		err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, service, region, now, func(o *v4.SignerOptions) {
			// S3 signs the path as sent; every other service escapes it
			// once more (the SDK's own per-service default).
			o.DisableURIPathEscaping = service == "s3"
		})
		if err != nil {
			return fmt.Errorf("proxy: sigv4: %w", err)
		}
		return nil
	}
	typ := c.TokenType
	if typ == "" || strings.EqualFold(typ, "bearer") {
		typ = "Bearer" // RFC 6750 §2.1's spelling; the type is case-insensitive
	}
	req.Header.Set("Authorization", typ+" "+c.AccessToken)
	return nil
}
