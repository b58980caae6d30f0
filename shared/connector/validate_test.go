package connector_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

func ptr[T any](v T) *T { return &v }

// serviceAccountKey returns a JSON key shaped like the ones the Cloud
// console downloads, with a freshly generated private key.
func serviceAccountKey(t *testing.T, mutate func(m map[string]any)) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{
		"type":           "service_account",
		"project_id":     "demo-project",
		"private_key_id": "abc123",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "svc@demo-project.iam.gserviceaccount.com",
		"token_uri":      "https://oauth2.googleapis.com/token",
	}
	if mutate != nil {
		mutate(m)
	}
	data, _ := json.Marshal(m)
	return string(data)
}

// gmail is the seed page's Gmail connector, which must be accepted as-is.
func gmail() connector.Input {
	return connector.Input{
		Name:         ptr("GmailAPI"),
		URL:          ptr("https://oauth2.googleapis.com/token"),
		ClientID:     ptr("1234.apps.googleusercontent.com"),
		ClientSecret: ptr("GOCSPX-secret-value"),
		GrantType:    ptr("refresh_token"),
		RefreshToken: ptr("1//refresh-token-value"),
		ContentType:  ptr("application/x-www-form-urlencoded"),
		Scope:        ptr("https://www.googleapis.com/auth/gmail.send"),
	}
}

func validate(in connector.Input, opts connector.Options) error {
	c := connector.Defaults()
	var b secret.Bundle
	in.Apply(c, &b)
	return connector.Validate(c, &b, opts)
}

func TestValidate(t *testing.T) {
	saKey := serviceAccountKey(t, nil)
	tests := []struct {
		name      string
		edit      func(in *connector.Input)
		opts      connector.Options
		wantField string // "" = valid
	}{
		{name: "seed gmail connector", edit: func(*connector.Input) {}},
		{name: "name missing", edit: func(in *connector.Input) { in.Name = nil }, wantField: "name"},
		{name: "name with space", edit: func(in *connector.Input) { in.Name = ptr("My Service") }, wantField: "name"},
		{name: "name starting with digit", edit: func(in *connector.Input) { in.Name = ptr("1Service") }, wantField: "name"},
		{name: "name with dash", edit: func(in *connector.Input) { in.Name = ptr("my-service") }, wantField: "name"},
		{name: "name underscore start", edit: func(in *connector.Input) { in.Name = ptr("_svc_2") }},
		{name: "name 64 chars", edit: func(in *connector.Input) { in.Name = ptr("a" + strings.Repeat("b", 63)) }},
		{name: "name 65 chars", edit: func(in *connector.Input) { in.Name = ptr("a" + strings.Repeat("b", 64)) }, wantField: "name"},
		{name: "name unicode letter", edit: func(in *connector.Input) { in.Name = ptr("Zürich") }, wantField: "name"},
		{name: "grant type missing", edit: func(in *connector.Input) { in.GrantType = nil }, wantField: "grantType"},
		{name: "grant type with space", edit: func(in *connector.Input) { in.GrantType = ptr("client credentials") }, wantField: "grantType"},
		{name: "extension grant URI", edit: func(in *connector.Input) {
			in.GrantType = ptr("urn:ietf:params:oauth:grant-type:jwt-bearer")
		}},
		{name: "url missing for oauth", edit: func(in *connector.Input) { in.URL = nil }, wantField: "url"},
		{name: "url relative", edit: func(in *connector.Input) { in.URL = ptr("/token") }, wantField: "url"},
		{name: "url http public", edit: func(in *connector.Input) { in.URL = ptr("http://auth.example.com/token") }, wantField: "url"},
		{name: "url http loopback not allowed", edit: func(in *connector.Input) { in.URL = ptr("http://127.0.0.1:9000/token") }, wantField: "url"},
		{name: "url http loopback allowed locally", edit: func(in *connector.Input) { in.URL = ptr("http://127.0.0.1:9000/token") }, opts: connector.Options{AllowInsecureURLs: true}},
		{name: "url http localhost allowed locally", edit: func(in *connector.Input) { in.URL = ptr("http://localhost:9000/token") }, opts: connector.Options{AllowInsecureURLs: true}},
		{name: "url http non-loopback even locally", edit: func(in *connector.Input) { in.URL = ptr("http://auth.example.com/token") }, opts: connector.Options{AllowInsecureURLs: true}, wantField: "url"},
		{name: "url https loopback in production", edit: func(in *connector.Input) { in.URL = ptr("https://127.0.0.1/token") }, wantField: "url"},
		{name: "url metadata IP", edit: func(in *connector.Input) { in.URL = ptr("https://169.254.169.254/computeMetadata/v1/") }, opts: connector.Options{AllowInsecureURLs: true}, wantField: "url"},
		{name: "url metadata host", edit: func(in *connector.Input) { in.URL = ptr("https://metadata.google.internal/token") }, wantField: "url"},
		{name: "url link-local", edit: func(in *connector.Input) { in.URL = ptr("https://169.254.10.1/token") }, wantField: "url"},
		{name: "url IPv6 metadata", edit: func(in *connector.Input) { in.URL = ptr("https://[fd00:ec2::254]/token") }, wantField: "url"},
		{name: "url IPv6 link-local", edit: func(in *connector.Input) { in.URL = ptr("https://[fe80::1]/token") }, wantField: "url"},
		{name: "url unspecified", edit: func(in *connector.Input) { in.URL = ptr("https://0.0.0.0/token") }, wantField: "url"},
		{name: "url with credentials", edit: func(in *connector.Input) { in.URL = ptr("https://user:pw@auth.example.com/token") }, wantField: "url"},
		{name: "url with fragment", edit: func(in *connector.Input) { in.URL = ptr("https://auth.example.com/token#x") }, wantField: "url"},
		{name: "url ftp", edit: func(in *connector.Input) { in.URL = ptr("ftp://auth.example.com/token") }, wantField: "url"},
		{name: "content type json", edit: func(in *connector.Input) { in.ContentType = ptr("application/json") }},
		{name: "content type empty means default", edit: func(in *connector.Input) { in.ContentType = ptr("") }},
		{name: "content type xml", edit: func(in *connector.Input) { in.ContentType = ptr("application/xml") }, wantField: "contentType"},
		{name: "scope with quote", edit: func(in *connector.Input) { in.Scope = ptr(`read "write"`) }, wantField: "scope"},
		{name: "scope several", edit: func(in *connector.Input) { in.Scope = ptr("read:user  write:repo") }},
		{name: "agents dedupe ok", edit: func(in *connector.Input) { in.Agents = ptr([]string{"a", "b", "a"}) }},
		{name: "agent empty", edit: func(in *connector.Input) { in.Agents = ptr([]string{"a", ""}) }, wantField: "agents[1]"},
		{name: "agent with space", edit: func(in *connector.Input) { in.Agents = ptr([]string{"agent one"}) }, wantField: "agents[0]"},
		{name: "refresh token required", edit: func(in *connector.Input) { in.RefreshToken = nil }, wantField: "refreshToken"},
		{name: "refresh token empty", edit: func(in *connector.Input) { in.RefreshToken = ptr("") }, wantField: "refreshToken"},
		{name: "password grant needs username", edit: func(in *connector.Input) {
			in.GrantType = ptr("password")
			in.Password = ptr("pw")
		}, wantField: "username"},
		{name: "password grant needs password", edit: func(in *connector.Input) {
			in.GrantType = ptr("password")
			in.Username = ptr("alice")
		}, wantField: "password"},
		{name: "password grant complete", edit: func(in *connector.Input) {
			in.GrantType = ptr("password")
			in.Username = ptr("alice")
			in.Password = ptr("pw")
		}},
		{name: "client credentials needs client id", edit: func(in *connector.Input) {
			in.GrantType = ptr("client_credentials")
			in.ClientID = nil
		}, wantField: "clientId"},
		{name: "client credentials needs secret", edit: func(in *connector.Input) {
			in.GrantType = ptr("client_credentials")
			in.ClientSecret = nil
		}, wantField: "clientSecret"},
		{name: "service account email ok", edit: func(in *connector.Input) {
			in.ServiceAccountEmail = ptr("rag-builder@my-proj.iam.gserviceaccount.com")
		}},
		{name: "service account email not a service account", edit: func(in *connector.Input) {
			in.ServiceAccountEmail = ptr("alice@example.com")
		}, wantField: "serviceAccountEmail"},
		{name: "extra params ok", edit: func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"audience": "https://api.example.com", "resource": "x"})
		}},
		{name: "extra params reserved", edit: func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"client_secret": "x"})
		}, wantField: "extraParams.client_secret"},
		{name: "extra params bad key", edit: func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"bad key": "x"})
		}, wantField: "extraParams"},
		{name: "extra params control char", edit: func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"audience": "a\nb"})
		}, wantField: "extraParams.audience"},
		{name: "gcs service account valid", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(saKey)}
		}},
		{name: "gcs service account missing key", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account")}
		}, wantField: "clientSecret"},
		{name: "gcs service account not JSON", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr("not json")}
		}, wantField: "clientSecret"},
		{name: "gcs service account wrong type", edit: func(in *connector.Input) {
			key := serviceAccountKey(t, func(m map[string]any) { m["type"] = "authorized_user" })
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key)}
		}, wantField: "clientSecret"},
		{name: "gcs service account no email", edit: func(in *connector.Input) {
			key := serviceAccountKey(t, func(m map[string]any) { delete(m, "client_email") })
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key)}
		}, wantField: "clientSecret"},
		{name: "gcs service account bad private key", edit: func(in *connector.Input) {
			key := serviceAccountKey(t, func(m map[string]any) {
				m["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
			})
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key)}
		}, wantField: "clientSecret"},
		{name: "aws iam valid", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456"), ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG")}
		}},
		{name: "aws iam needs client id", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG")}
		}, wantField: "clientId"},
		{name: "aws iam needs secret", edit: func(in *connector.Input) {
			*in = connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456")}
		}, wantField: "clientSecret"},
		{name: "gcs token_uri default when absent", edit: func(in *connector.Input) {
			key := serviceAccountKey(t, func(m map[string]any) { delete(m, "token_uri") })
			*in = connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key)}
		}},
		{name: "gcs token_uri http public", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "http://oauth2.example.com/token")
		}, opts: connector.Options{AllowInsecureURLs: true}, wantField: "clientSecret"},
		{name: "gcs token_uri http loopback in production", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "http://127.0.0.1:9000/token")
		}, wantField: "clientSecret"},
		{name: "gcs token_uri http loopback allowed locally", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "http://127.0.0.1:9000/token")
		}, opts: connector.Options{AllowInsecureURLs: true}},
		{name: "gcs token_uri metadata", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "https://metadata.google.internal/computeMetadata/v1/token")
		}, opts: connector.Options{AllowInsecureURLs: true}, wantField: "clientSecret"},
		{name: "gcs token_uri link-local", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "https://169.254.169.254/token")
		}, wantField: "clientSecret"},
		{name: "gcs token_uri relative", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "/token")
		}, wantField: "clientSecret"},
		{name: "gcs token_uri file scheme", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "file:///etc/passwd")
		}, wantField: "clientSecret"},
		{name: "gcs token_uri with credentials", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "https://u:p@oauth2.example.com/token")
		}, wantField: "clientSecret"},
		{name: "gcs token_uri https other host", edit: func(in *connector.Input) {
			*in = gcsWithTokenURI(t, "https://oauth2.example.com/token")
		}},
		{name: "client secret too large", edit: func(in *connector.Input) {
			in.ClientSecret = ptr(strings.Repeat("x", connector.MaxClientSecretLen+1))
		}, wantField: "clientSecret"},
		{name: "client id control chars", edit: func(in *connector.Input) { in.ClientID = ptr("id\x00") }, wantField: "clientId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gmail()
			tt.edit(&in)
			err := validate(in, tt.opts)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError on %q, got %v", tt.wantField, err)
			}
			if fe.Field != tt.wantField {
				t.Fatalf("field = %q, want %q (message %q)", fe.Field, tt.wantField, fe.Message)
			}
			if fe.Message == "" {
				t.Fatal("empty message")
			}
			// No error may quote a write-only value.
			for _, s := range []*string{in.ClientSecret, in.RefreshToken, in.Password} {
				if s != nil && len(*s) > 3 && strings.Contains(err.Error(), *s) {
					t.Fatalf("error %q quotes a secret", err)
				}
			}
		})
	}
}

func gcsWithTokenURI(t *testing.T, uri string) connector.Input {
	key := serviceAccountKey(t, func(m map[string]any) { m["token_uri"] = uri })
	return connector.Input{Name: ptr("Gcs"), GrantType: ptr("gcs_service_account"), ClientSecret: ptr(key)}
}

func TestValidateAWSParams(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]string
		grantType string // "" = aws_iam
		wantField string // "" = valid
	}{
		{name: "none"},
		{name: "region", params: map[string]string{"region": "eu-central-1"}},
		{name: "region gov", params: map[string]string{"region": "us-gov-west-1"}},
		{name: "region china", params: map[string]string{"region": "cn-north-1"}},
		{name: "region iso", params: map[string]string{"region": "us-isob-east-1"}},
		{name: "region upper case", params: map[string]string{"region": "US-EAST-1"}, wantField: "extraParams.region"},
		{name: "region no number", params: map[string]string{"region": "us-east"}, wantField: "extraParams.region"},
		{name: "region empty", params: map[string]string{"region": ""}, wantField: "extraParams.region"},
		{name: "region host name", params: map[string]string{"region": "evil.example.com"}, wantField: "extraParams.region"},
		{name: "region path", params: map[string]string{"region": "us-east-1/../x"}, wantField: "extraParams.region"},
		{name: "role arn", params: map[string]string{"roleArn": "arn:aws:iam::123456789012:role/Reader"}},
		{name: "role arn with path", params: map[string]string{"roleArn": "arn:aws:iam::123456789012:role/team/app/Reader+x=y,z.a@b_c-d"}},
		{name: "role arn gov partition", params: map[string]string{"roleArn": "arn:aws-us-gov:iam::123456789012:role/Reader"}},
		{name: "role arn china partition", params: map[string]string{"roleArn": "arn:aws-cn:iam::123456789012:role/Reader"}},
		{name: "role arn user not role", params: map[string]string{"roleArn": "arn:aws:iam::123456789012:user/alice"}, wantField: "extraParams.roleArn"},
		{name: "role arn short account", params: map[string]string{"roleArn": "arn:aws:iam::12345:role/Reader"}, wantField: "extraParams.roleArn"},
		{name: "role arn other service", params: map[string]string{"roleArn": "arn:aws:s3:::bucket"}, wantField: "extraParams.roleArn"},
		{name: "role arn no name", params: map[string]string{"roleArn": "arn:aws:iam::123456789012:role/"}, wantField: "extraParams.roleArn"},
		{name: "role arn space", params: map[string]string{"roleArn": "arn:aws:iam::123456789012:role/a b"}, wantField: "extraParams.roleArn"},
		{name: "session name and external id", params: map[string]string{
			"roleArn": "arn:aws:iam::123456789012:role/Reader", "roleSessionName": "rag-agent", "externalId": "tenant:42/x",
		}},
		{name: "session name too short", params: map[string]string{
			"roleArn": "arn:aws:iam::123456789012:role/Reader", "roleSessionName": "a",
		}, wantField: "extraParams.roleSessionName"},
		{name: "session name bad char", params: map[string]string{
			"roleArn": "arn:aws:iam::123456789012:role/Reader", "roleSessionName": "a b",
		}, wantField: "extraParams.roleSessionName"},
		{name: "external id bad char", params: map[string]string{
			"roleArn": "arn:aws:iam::123456789012:role/Reader", "externalId": "a b",
		}, wantField: "extraParams.externalId"},
		{name: "session name without role", params: map[string]string{"roleSessionName": "rag-agent"}, wantField: "extraParams.roleSessionName"},
		{name: "external id without role", params: map[string]string{"externalId": "tenant-42"}, wantField: "extraParams.externalId"},
		{name: "duration min", params: map[string]string{"durationSeconds": "900"}},
		{name: "duration max", params: map[string]string{"durationSeconds": "43200"}},
		{name: "duration too short", params: map[string]string{"durationSeconds": "899"}, wantField: "extraParams.durationSeconds"},
		{name: "duration too long", params: map[string]string{"durationSeconds": "43201"}, wantField: "extraParams.durationSeconds"},
		{name: "duration not a number", params: map[string]string{"durationSeconds": "1h"}, wantField: "extraParams.durationSeconds"},
		{name: "duration fraction", params: map[string]string{"durationSeconds": "3600.5"}, wantField: "extraParams.durationSeconds"},
		{name: "unrelated params are left alone", params: map[string]string{"endpointStyle": "path"}},
		// OAuth providers may use the same names for their own purposes.
		{name: "oauth connector region not checked", grantType: "client_credentials", params: map[string]string{"region": "Europe", "durationSeconds": "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456"), ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG")}
			if tt.grantType != "" {
				in.GrantType = ptr(tt.grantType)
				in.URL = ptr("https://auth.example.com/token")
				in.ClientID = ptr("cid")
			}
			if tt.params != nil {
				in.ExtraParams = ptr(tt.params)
			}
			err := validate(in, connector.Options{})
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var fe *connector.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || fe.Message == "" {
				t.Fatalf("want a FieldError on %q, got %v", tt.wantField, err)
			}
			if strings.Contains(err.Error(), "wJalrXUtnFEMI/K7MDENG") {
				t.Fatalf("error %q quotes the secret key", err)
			}
		})
	}
}

func TestAWSDurationSeconds(t *testing.T) {
	if n, err := connector.AWSDurationSeconds("3600"); err != nil || n != 3600 {
		t.Fatalf("3600: %d %v", n, err)
	}
	if _, err := connector.AWSDurationSeconds("99999999999999999999"); err == nil {
		t.Fatal("overflow accepted")
	}
}

func TestApplyDefaultsAndDedupe(t *testing.T) {
	in := gmail()
	in.Agents = ptr([]string{" a ", "b", "a", "b"})
	c := connector.Defaults()
	var b secret.Bundle
	in.Apply(c, &b)
	if !c.Active || c.HeaderAsPayload {
		t.Fatalf("defaults: active=%v headerAsPayload=%v", c.Active, c.HeaderAsPayload)
	}
	if got := strings.Join(c.Agents, ","); got != "a,b" {
		t.Fatalf("agents = %q", got)
	}
	if !c.HasClientSecret || !c.HasRefreshToken || c.HasPassword {
		t.Fatalf("presence flags wrong: %+v", c)
	}
	if b.ClientSecret != "GOCSPX-secret-value" || b.RefreshToken != "1//refresh-token-value" {
		t.Fatal("bundle not filled")
	}
}

func TestApplyPartialKeepsSecretsFlags(t *testing.T) {
	c := &connector.Connector{HasClientSecret: true, HasRefreshToken: true}
	var b secret.Bundle
	(&connector.Input{Scope: ptr("x")}).Apply(c, &b)
	if !c.HasClientSecret || !c.HasRefreshToken {
		t.Fatal("an update that omits secrets must keep their presence")
	}
	(&connector.Input{RefreshToken: ptr("")}).Apply(c, &b)
	if c.HasRefreshToken || !c.HasClientSecret {
		t.Fatal(`"" must clear only that secret`)
	}
}

func TestBundleRedacted(t *testing.T) {
	b := secret.Bundle{ClientSecret: "s3cr3t"}
	for _, s := range []string{b.String(), b.GoString()} {
		if strings.Contains(s, "s3cr3t") {
			t.Fatal("bundle formatting leaks")
		}
	}
}
