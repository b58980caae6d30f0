package connector_test

import (
	"errors"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

func TestValidateAPIBaseURL(t *testing.T) {
	local := connector.Options{AllowInsecureURLs: true}
	tests := []struct {
		name  string
		base  string
		opts  connector.Options
		valid bool
	}{
		{"gmail", "https://gmail.googleapis.com/gmail/v1/", connector.Options{}, true},
		{"origin only", "https://api.github.com", connector.Options{}, true},
		{"no trailing slash", "https://api.example.com/v2", connector.Options{}, true},
		{"port", "https://api.example.com:8443/v1/", connector.Options{}, true},
		{"loopback http locally", "http://127.0.0.1:9000/api/", local, true},
		{"loopback http deployed", "http://127.0.0.1:9000/api/", connector.Options{}, false},
		{"https loopback deployed", "https://127.0.0.1/api/", connector.Options{}, false},
		{"http public", "http://api.example.com/", local, false},
		{"relative", "/v1/", local, false},
		{"no host", "https:///v1", local, false},
		{"ftp", "ftp://api.example.com/", local, false},
		{"metadata IP", "http://169.254.169.254/computeMetadata/v1/", local, false},
		{"metadata host", "https://metadata.google.internal/", local, false},
		{"link-local", "https://169.254.10.1/", local, false},
		{"IPv6 link-local", "https://[fe80::1]/", local, false},
		{"IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/", local, false},
		{"userinfo", "https://user:pw@api.example.com/", local, false},
		{"user only", "https://user@api.example.com/", local, false},
		{"query", "https://api.example.com/v1/?key=x", local, false},
		{"empty query", "https://api.example.com/v1/?", local, false},
		{"fragment", "https://api.example.com/v1/#x", local, false},
		{"dot dot", "https://api.example.com/v1/../admin/", local, false},
		{"dot", "https://api.example.com/./v1/", local, false},
		{"encoded dot", "https://api.example.com/v1/%2e%2e/admin/", local, false},
		{"encoded slash", "https://api.example.com/v1%2Fadmin/", local, false},
		{"backslash", `https://api.example.com/v1\admin/`, local, false},
		{"double slash", "https://api.example.com/v1//admin/", local, false},
		{"too long", "https://api.example.com/" + strings.Repeat("a", connector.MaxURLLen), local, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gmail()
			in.APIBaseURL = ptr(tt.base)
			err := validate(in, tt.opts)
			if tt.valid {
				if err != nil {
					t.Fatalf("apiBaseUrl %q: %v", tt.base, err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != "apiBaseUrl" {
				t.Fatalf("apiBaseUrl %q: got %v, want an error on apiBaseUrl", tt.base, err)
			}
		})
	}
}

func TestAPIBaseURLIsTrimmedAndOptional(t *testing.T) {
	c := connector.Defaults()
	in := gmail()
	in.APIBaseURL = ptr("  https://gmail.googleapis.com/gmail/v1/ ")
	var b secret.Bundle
	in.Apply(c, &b)
	if c.APIBaseURL != "https://gmail.googleapis.com/gmail/v1/" {
		t.Fatalf("APIBaseURL = %q", c.APIBaseURL)
	}
	if got := in.Fields(); !strings.Contains(strings.Join(got, ","), "apiBaseUrl") {
		t.Fatalf("Fields() = %v, want apiBaseUrl listed", got)
	}
	if err := validate(gmail(), connector.Options{}); err != nil {
		t.Fatalf("without apiBaseUrl: %v", err)
	}
}

// Moving apiBaseUrl to another origin moves where the credential minted
// from the stored secrets goes: like url, it needs them given again.
func TestAPIBaseURLOriginMoveNeedsSecretsAgain(t *testing.T) {
	cur := &connector.Connector{Name: "Gmail", URL: "https://oauth2.googleapis.com/token", GrantType: "refresh_token",
		APIBaseURL: "https://gmail.googleapis.com/gmail/v1/", HasClientSecret: true, HasRefreshToken: true}
	for _, tt := range []struct {
		name      string
		in        connector.Input
		wantField string
	}{
		{"same origin, other path", connector.Input{APIBaseURL: ptr("https://gmail.googleapis.com/gmail/v2/")}, ""},
		{"same origin, other case", connector.Input{APIBaseURL: ptr("https://GMAIL.googleapis.com/gmail/v1/")}, ""},
		{"other origin", connector.Input{APIBaseURL: ptr("https://evil.example.com/")}, "clientSecret"},
		{"other scheme", connector.Input{APIBaseURL: ptr("http://gmail.googleapis.com/")}, "clientSecret"},
		{"other port", connector.Input{APIBaseURL: ptr("https://gmail.googleapis.com:444/")}, "clientSecret"},
		{"cleared", connector.Input{APIBaseURL: ptr("")}, "clientSecret"},
		{"other origin with secrets", connector.Input{APIBaseURL: ptr("https://evil.example.com/"), ClientSecret: ptr("s"), RefreshToken: ptr("r")}, ""},
		{"other origin, refresh token missing", connector.Input{APIBaseURL: ptr("https://evil.example.com/"), ClientSecret: ptr("s")}, "refreshToken"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.CheckRebind(cur)
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("got %v, want an error on %s", err, tt.wantField)
			}
			if !strings.Contains(fe.Error(), "apiBaseUrl") {
				t.Fatalf("error %q does not say apiBaseUrl moved", fe.Error())
			}
		})
	}
	// A connector that never had an apiBaseUrl gains one: the credential
	// starts going somewhere new.
	bare := *cur
	bare.APIBaseURL = ""
	in := connector.Input{APIBaseURL: ptr("https://gmail.googleapis.com/gmail/v1/")}
	if err := in.CheckRebind(&bare); err == nil {
		t.Fatal("setting apiBaseUrl on a connector holding secrets needs them again")
	}
}

// An aws_iam connector used through the proxy signs with SigV4 for a
// service and region, both named in extraParams.
func TestAPIBaseURLAWSNeedsServiceAndRegion(t *testing.T) {
	for _, tt := range []struct {
		name      string
		base      string
		params    map[string]string
		wantField string
	}{
		{"no base, no service", "", map[string]string{"region": "us-east-1"}, ""},
		{"base with both", "https://bedrock-runtime.us-east-1.amazonaws.com/", map[string]string{"service": "bedrock", "region": "us-east-1"}, ""},
		{"execute-api", "https://abc.execute-api.eu-west-1.amazonaws.com/prod/", map[string]string{"service": "execute-api", "region": "eu-west-1"}, ""},
		{"base without service", "https://s3.us-east-1.amazonaws.com/", map[string]string{"region": "us-east-1"}, "extraParams.service"},
		{"base without region", "https://s3.us-east-1.amazonaws.com/", map[string]string{"service": "s3"}, "extraParams.region"},
		{"service upper case", "", map[string]string{"service": "S3"}, "extraParams.service"},
		{"service with slash", "", map[string]string{"service": "s3/../x"}, "extraParams.service"},
		{"service empty", "", map[string]string{"service": ""}, "extraParams.service"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456"),
				ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG"), ExtraParams: ptr(tt.params), APIBaseURL: ptr(tt.base)}
			err := validate(in, connector.Options{})
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("got %v, want an error on %s", err, tt.wantField)
			}
		})
	}
}
