package config

import "testing"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_ALLOW_INSECURE_URLS": "true"}))
	if err != nil || c.Project != "p" || c.SecretPrefix != DefaultSecretPrefix || !c.AllowInsecureURLs {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := FromEnv(env(nil)); err == nil {
		t.Fatal("missing project accepted")
	}
	if _, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_ALLOW_INSECURE_URLS": "maybe"})); err == nil {
		t.Fatal("bad boolean accepted")
	}
}

func TestDurations(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_TOKEN_TIMEOUT": "2s"}))
	if err != nil || c.TokenTimeout.Seconds() != 2 || c.TokenConnectTimeout != DefaultTokenConnectTimeout || c.DefaultTokenLifetime != DefaultDefaultTokenLifetime {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{"soon", "-1s", "0s"} {
		if _, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_TOKEN_TIMEOUT": bad})); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if _, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_ALLOW_PRIVATE_NETWORKS": "nope"})); err == nil {
		t.Fatal("bad boolean accepted")
	}
}

func TestRequestTimeout(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}))
	if err != nil || c.RequestTimeout != DefaultRequestTimeout {
		t.Fatalf("default: %+v, %v", c, err)
	}
	c, err = FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_REQUEST_TIMEOUT": "2s"}))
	if err != nil || c.RequestTimeout.Seconds() != 2 {
		t.Fatalf("2s: %+v, %v", c, err)
	}
	if d, err := RequestTimeoutFromEnv(env(map[string]string{"CONNECTORS_REQUEST_TIMEOUT": "45s"})); err != nil || d.Seconds() != 45 {
		t.Fatalf("local run: %v, %v", d, err)
	}
	if d, err := RequestTimeoutFromEnv(env(nil)); err != nil || d != DefaultRequestTimeout {
		t.Fatalf("local run default: %v, %v", d, err)
	}
	for _, bad := range []string{"soon", "0s", "-5s"} {
		if _, err := FromEnv(env(map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_REQUEST_TIMEOUT": bad})); err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if _, err := RequestTimeoutFromEnv(env(map[string]string{"CONNECTORS_REQUEST_TIMEOUT": bad})); err == nil {
			t.Fatalf("local run: %q accepted", bad)
		}
	}
}
