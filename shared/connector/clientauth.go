package connector

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"

	"connectors.dev/connectors/shared/secret"
)

// Client authentication methods at the token endpoint (RFC 6749 §2.3,
// OpenID Connect Core §9, RFC 7523 §2.2), by their registered names
// (token_endpoint_auth_method).
const (
	// AuthClientSecretPost sends client_id and client_secret in the body.
	AuthClientSecretPost = "client_secret_post"
	// AuthClientSecretBasic sends them as HTTP Basic credentials; the
	// seed's headerAsPayload=true is this method.
	AuthClientSecretBasic = "client_secret_basic"
	// AuthPrivateKeyJWT sends a client assertion (a JWT) signed with the
	// private key held in clientSecret (Okta, Microsoft Entra).
	AuthPrivateKeyJWT = "private_key_jwt"
	// AuthNone is a public client: client_id only, no secret; PKCE is what
	// binds its authorization code.
	AuthNone = "none"
)

// ClientAuthMethods are the accepted values of clientAuthMethod, in the
// order a discovery document's list is searched for a default.
var ClientAuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}

// MaxKeyIDLen bounds keyId.
const MaxKeyIDLen = 256

// EffectiveClientAuthMethod is the method the token request uses: the
// stored clientAuthMethod, or for a connector stored before that field,
// headerAsPayload's choice between Basic and the body.
func (c *Connector) EffectiveClientAuthMethod() string {
	if c.ClientAuthMethod != "" {
		return c.ClientAuthMethod
	}
	if c.HeaderAsPayload {
		return AuthClientSecretBasic
	}
	return AuthClientSecretPost
}

// applyClientAuth keeps clientAuthMethod and headerAsPayload the same
// switch: a method given alone sets headerAsPayload (true for Basic), and
// headerAsPayload given alone moves a Basic or post method with it. Both
// given and contradicting is left for validation to refuse.
func (in *Input) applyClientAuth(c *Connector) {
	if in.KeyID != nil {
		c.KeyID = strings.TrimSpace(*in.KeyID)
	}
	if in.ClientAuthMethod != nil {
		c.ClientAuthMethod = strings.TrimSpace(*in.ClientAuthMethod)
		if in.HeaderAsPayload == nil {
			c.HeaderAsPayload = c.ClientAuthMethod == AuthClientSecretBasic
		}
		return
	}
	switch c.ClientAuthMethod {
	case "", AuthClientSecretBasic, AuthClientSecretPost:
	default:
		return // private_key_jwt or none: validation refuses headerAsPayload=true
	}
	if in.HeaderAsPayload != nil {
		c.ClientAuthMethod = AuthClientSecretPost
		if c.HeaderAsPayload {
			c.ClientAuthMethod = AuthClientSecretBasic
		}
	}
}

// checkAuthRebind: clientSecret means a shared secret under the secret
// methods and a private key under private_key_jwt, so switching between
// them must give it again; otherwise a stored secret would be read as a
// key (or a key sent as a secret).
func (in *Input) checkAuthRebind(cur *Connector) error {
	if in.ClientAuthMethod == nil || !cur.HasClientSecret || in.ClientSecret != nil {
		return nil
	}
	next := strings.TrimSpace(*in.ClientAuthMethod)
	if next == "" {
		next = cur.EffectiveClientAuthMethod()
	}
	if (next == AuthPrivateKeyJWT) != (cur.EffectiveClientAuthMethod() == AuthPrivateKeyJWT) {
		return fieldErr("clientSecret", "must be given again (or \"\" to clear it) when clientAuthMethod changes to or from private_key_jwt: it holds a private key under that method, a shared secret under the others")
	}
	return nil
}

// validateClientAuth checks clientAuthMethod, keyId and headerAsPayload
// together.
func validateClientAuth(c *Connector, b *secret.Bundle) *FieldError {
	m := c.ClientAuthMethod
	switch m {
	case "", AuthClientSecretPost, AuthClientSecretBasic, AuthPrivateKeyJWT, AuthNone:
	default:
		return fieldErr("clientAuthMethod", "must be one of %s", strings.Join(ClientAuthMethods, ", "))
	}
	if m != "" && !IsOAuth(c.GrantType) {
		return fieldErr("clientAuthMethod", "applies to OAuth token endpoints only; grant type %s authenticates with its own key", c.GrantType)
	}
	if c.HeaderAsPayload && m != "" && m != AuthClientSecretBasic {
		return fieldErr("headerAsPayload", "must be false with clientAuthMethod %s (headerAsPayload=true is client_secret_basic)", m)
	}
	if !c.HeaderAsPayload && m == AuthClientSecretBasic {
		return fieldErr("headerAsPayload", "must be true with clientAuthMethod client_secret_basic (they are the same switch)")
	}
	if c.KeyID != "" && m != AuthPrivateKeyJWT {
		return fieldErr("keyId", "is used only with clientAuthMethod private_key_jwt (the kid of its client assertions)")
	}
	if err := validateText("keyId", c.KeyID, MaxKeyIDLen); err != nil {
		return err
	}
	switch m {
	case AuthPrivateKeyJWT:
		if c.ClientID == "" {
			return fieldErr("clientId", "is required with clientAuthMethod private_key_jwt: the assertion's issuer and subject")
		}
		if !c.HasClientSecret {
			return fieldErr("clientSecret", "is required with clientAuthMethod private_key_jwt: the PEM private key that signs the client assertion")
		}
		if b != nil {
			if _, _, err := ParseClientKey(b.ClientSecret); err != nil {
				return fieldErr("clientSecret", "with clientAuthMethod private_key_jwt %s", err.Error())
			}
		}
	case AuthNone:
		if c.ClientID == "" {
			return fieldErr("clientId", "is required with clientAuthMethod none: a public client still names itself")
		}
		if c.HasClientSecret {
			return fieldErr("clientSecret", "must be empty with clientAuthMethod none: a public client has no secret")
		}
		if c.GrantType == GrantClientCredentials {
			return fieldErr("clientAuthMethod", "none cannot be used with client_credentials, where the client's authentication is the grant")
		}
	}
	return nil
}

// ParseClientKey reads private_key_jwt's signing key: a PEM private key,
// PKCS#8, PKCS#1 (RSA) or SEC 1 (EC), RSA of at least 2048 bits (RS256) or
// EC P-256 (ES256) or P-384 (ES384). Its error never quotes the key.
func ParseClientKey(raw string) (crypto.Signer, string, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(raw)))
	if block == nil {
		return nil, "", errors.New("must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, "", errors.New("must be a PEM private key; this PEM block cannot be parsed as one")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", errors.New("must be an RSA key of at least 2048 bits")
		}
		return k, "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return k, "ES256", nil
		case elliptic.P384():
			return k, "ES384", nil
		}
		return nil, "", errors.New("must be an EC key on P-256 or P-384")
	}
	return nil, "", errors.New("must be an RSA or EC private key")
}
