package connector

import (
	"net/url"
	"strings"
	"unicode"
)

// reservedAuthorizationParams are set by the connect flow itself
// (connectors-authorize): letting authorizationParams override them would
// send the code elsewhere, drop PKCE or forge the state.
var reservedAuthorizationParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "scope": true,
	"state": true, "code_challenge": true, "code_challenge_method": true,
	"response_mode": true, "request": true, "request_uri": true,
}

// IsReservedAuthorizationParam reports whether an authorizationParams
// name is, in any case, one the connect flow sets itself.
func IsReservedAuthorizationParam(name string) bool {
	return reservedAuthorizationParams[strings.ToLower(name)]
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// applyAuthorization writes the connect flow's fields.
func (in *Input) applyAuthorization(c *Connector) {
	if in.AuthorizationURL != nil {
		c.AuthorizationURL = strings.TrimSpace(*in.AuthorizationURL)
	}
	if in.Issuer != nil {
		c.Issuer = strings.TrimSpace(*in.Issuer)
	}
	if in.AuthorizationParams != nil {
		c.AuthorizationParams = nil
		if len(*in.AuthorizationParams) > 0 {
			c.AuthorizationParams = cloneMap(*in.AuthorizationParams)
		}
	}
}

// validateAuthorization checks authorizationUrl, issuer and
// authorizationParams.
func validateAuthorization(c *Connector, opts Options) *FieldError {
	if c.AuthorizationURL != "" {
		if c.GrantType != GrantRefreshToken {
			return fieldErr("authorizationUrl", "is used with grant type refresh_token only: connecting an account stores its refresh token")
		}
		if len(c.AuthorizationURL) > MaxURLLen {
			return fieldErr("authorizationUrl", "must be at most %d characters", MaxURLLen)
		}
		if msg := endpointProblem(c.AuthorizationURL, opts, "the authorization request carries only the client ID"); msg != "" {
			return fieldErr("authorizationUrl", "%s", msg)
		}
		if u, err := url.Parse(c.AuthorizationURL); err == nil {
			for k := range u.Query() {
				if IsReservedAuthorizationParam(k) {
					return fieldErr("authorizationUrl", "must not carry %s in its query: the connect flow sets it", k)
				}
			}
		}
		if c.ClientID == "" {
			return fieldErr("clientId", "is required with authorizationUrl: the authorization request names the client")
		}
	}
	if c.Issuer != "" {
		if !IsOAuth(c.GrantType) {
			return fieldErr("issuer", "applies to OAuth token endpoints only")
		}
		if err := ValidateIssuer(c.Issuer, opts); err != nil {
			return err.(*FieldError)
		}
	}
	if len(c.AuthorizationParams) > 0 && c.AuthorizationURL == "" {
		return fieldErr("authorizationParams", "is used only with authorizationUrl")
	}
	if len(c.AuthorizationParams) > MaxExtraParams {
		return fieldErr("authorizationParams", "must have at most %d entries", MaxExtraParams)
	}
	for _, k := range sortedKeys(c.AuthorizationParams) {
		field := "authorizationParams." + k
		v := c.AuthorizationParams[k]
		switch {
		case k == "" || len(k) > MaxExtraKeyLen || !paramRE.MatchString(k):
			return fieldErr("authorizationParams", "parameter names must be 1-%d characters of letters, digits, . _ ~ -", MaxExtraKeyLen)
		case IsReservedAuthorizationParam(k):
			return fieldErr(field, "is set by the connect flow itself and cannot be overridden (names are compared ignoring case)")
		case len(v) > MaxExtraValueLen:
			return fieldErr(field, "must be at most %d characters", MaxExtraValueLen)
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			return fieldErr(field, "must not contain control characters")
		}
	}
	return nil
}

// ValidateIssuer checks an issuer identifier (RFC 8414 §2): an https URL
// (http to loopback in local development) with no query or fragment,
// whose host the service may reach.
func ValidateIssuer(raw string, opts Options) error {
	if len(raw) > MaxURLLen {
		return fieldErr("issuer", "must be at most %d characters", MaxURLLen)
	}
	if msg := endpointProblem(raw, opts, "an issuer has none"); msg != "" {
		return fieldErr("issuer", "%s", msg)
	}
	if u, err := url.Parse(raw); err != nil || u.RawQuery != "" || u.ForceQuery {
		return fieldErr("issuer", "must not have a query (RFC 8414 §2)")
	}
	return nil
}
