package connector_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/secret"
)

// FuzzDecodeAndValidate feeds arbitrary request bodies through the same
// strict decoding and validation a create request gets. Properties: no
// panic; a rejection is a FieldError naming a field, and never quotes a
// write-only value; an accepted connector validates again unchanged after a
// round trip through its stored JSON form.
func FuzzDecodeAndValidate(f *testing.F) {
	for _, seed := range []string{
		`{"name":"GmailAPI","url":"https://oauth2.googleapis.com/token","clientId":"1234.apps.googleusercontent.com","clientSecret":"GOCSPX-x","grantType":"refresh_token","refreshToken":"1//x","contentType":"application/x-www-form-urlencoded","scope":"https://www.googleapis.com/auth/gmail.send"}`,
		`{"name":"Svc","url":"https://a.example.com/t","grantType":"client_credentials","clientId":"c","clientSecret":"s","agents":["a","a","b"],"extraParams":{"audience":"x"}}`,
		`{"name":"S3","grantType":"aws_iam","clientId":"AKIAEXAMPLE","clientSecret":"k"}`,
		`{"name":"My Service","grantType":"password","username":"u","password":"p","url":"http://127.0.0.1:9/t"}`,
		`{"name":"X","url":"https://[fd00:ec2::254]/t","grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer"}`,
		`{"name":"X","agents":[""],"scope":"a\"b","extraParams":{"client_secret":"x"}}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, insecure bool) {
		var in connector.Input
		if err := httpx.DecodeBytes(body, &in); err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != 400 {
				t.Fatalf("decode refusal is not a 400: %v", err)
			}
			return
		}
		opts := connector.Options{AllowInsecureURLs: insecure}
		c := connector.Defaults()
		var b secret.Bundle
		in.Apply(c, &b)
		err := connector.Validate(c, &b, opts)
		if err != nil {
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Message == "" {
				t.Fatalf("rejection without a field: %v", err)
			}
			for _, field := range []*string{&b.ClientSecret, &b.RefreshToken, &b.Password} {
				if leaks(c, &b, field, opts, err.Error()) {
					t.Fatalf("error quotes a write-only value: %v", err)
				}
			}
			return
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back connector.Connector
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if err := connector.Validate(&back, &b, opts); err != nil {
			t.Fatalf("stored form of an accepted connector is rejected: %v\n%s", err, raw)
		}
	})
}

// leaks reports whether msg, Validate's error for c and b, quotes the
// write-only value *field (a field of *b). Containing it is not enough: a short value can
// be part of the message's own text ("esh_toke" of "refresh_token"). The
// value is quoted when the message follows it: validating again with the
// value replaced by a marker of its length gives the same message with the
// marker in its place.
func leaks(c *connector.Connector, b *secret.Bundle, field *string, opts connector.Options, msg string) bool {
	v := *field
	if len(v) < 8 || !strings.Contains(msg, v) {
		return false
	}
	marker := strings.Repeat("~", len(v))
	*field = marker
	defer func() { *field = v }()
	other := connector.Validate(c.Clone(), b, opts)
	return other != nil && other.Error() != msg && other.Error() == strings.ReplaceAll(msg, v, marker)
}
