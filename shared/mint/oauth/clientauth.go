package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

// ClientAssertionType is RFC 7523 §2.2's client_assertion_type.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid: long enough
// for clock skew, short enough that a captured one is soon useless (its
// jti makes it single-use at servers that check).
const assertionLifetime = 5 * time.Minute

// authenticate adds the client's authentication to params, by the
// connector's method (RFC 6749 §2.3.1 never both Basic and body), and
// returns the Basic credentials to send, if any.
func authenticate(conn *connector.Connector, b secret.Bundle, params map[string]string, now time.Time) (basic string, err error) {
	switch m := conn.EffectiveClientAuthMethod(); m {
	case connector.AuthClientSecretBasic:
		// A client with neither ID nor secret (a public refresh, say)
		// sends none, as before clientAuthMethod existed.
		if conn.ClientID != "" || b.ClientSecret != "" {
			basic = basicCredentials(conn.ClientID, b.ClientSecret)
		}
	case connector.AuthClientSecretPost:
		if conn.ClientID != "" {
			params["client_id"] = conn.ClientID
		}
		if b.ClientSecret != "" {
			params["client_secret"] = b.ClientSecret
		}
	case connector.AuthNone:
		params["client_id"] = conn.ClientID
	case connector.AuthPrivateKeyJWT:
		assertion, err := ClientAssertion(conn, b.ClientSecret, now)
		if err != nil {
			return "", err
		}
		params["client_id"] = conn.ClientID
		params["client_assertion_type"] = ClientAssertionType
		params["client_assertion"] = assertion
	default:
		return "", fmt.Errorf("oauth: connector %s: unsupported clientAuthMethod %q", conn.Name, m)
	}
	return basic, nil
}

// ClientAssertion signs RFC 7523 §3's client assertion for conn with the
// PEM private key keyPEM: iss and sub the client ID, aud the token
// endpoint, a random jti, exp five minutes on; kid from keyId when set.
// Its errors never quote the key.
func ClientAssertion(conn *connector.Connector, keyPEM string, now time.Time) (string, error) {
	key, alg, err := connector.ParseClientKey(keyPEM)
	if err != nil {
		return "", fmt.Errorf("oauth: connector %s: clientSecret %v", conn.Name, err)
	}
	header := map[string]string{"alg": alg, "typ": "JWT"}
	if conn.KeyID != "" {
		header["kid"] = conn.KeyID
	}
	jti := make([]byte, 18)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("oauth: client assertion jti: %w", err)
	}
	claims := map[string]any{
		"iss": conn.ClientID,
		"sub": conn.ClientID,
		"aud": conn.URL,
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	h, _ := json.Marshal(header) // maps of strings and numbers cannot fail
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := sign(key, alg, []byte(input))
	if err != nil {
		return "", fmt.Errorf("oauth: connector %s: sign client assertion failed", conn.Name)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// sign makes a JWS signature: PKCS#1 v1.5 for RS256, and for ES256/ES384
// the fixed-size r||s JWS wants (RFC 7518 §3.4), not ASN.1.
func sign(key crypto.Signer, alg string, input []byte) ([]byte, error) {
	switch alg {
	case "RS256":
		d := sha256.Sum256(input)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	case "ES256", "ES384":
		var digest []byte
		size := 32
		if alg == "ES256" {
			d := sha256.Sum256(input)
			digest = d[:]
		} else {
			d := sha512.Sum384(input)
			digest, size = d[:], 48
		}
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	}
	return nil, fmt.Errorf("unsupported alg %s", alg)
}
