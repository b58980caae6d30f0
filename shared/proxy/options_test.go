package proxy_test

import (
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/proxy"
)

func TestLimitsFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	l, err := proxy.LimitsFromEnv(env(nil))
	if err != nil || l.Timeout != proxy.DefaultTimeout || l.MaxBody != proxy.DefaultMaxBody || l.MaxDuration != proxy.DefaultMaxDuration {
		t.Fatalf("defaults: %+v %v", l, err)
	}
	l, err = proxy.LimitsFromEnv(env(map[string]string{"CONNECTORS_PROXY_TIMEOUT": "2s", "CONNECTORS_PROXY_MAX_BODY_BYTES": "1024", "CONNECTORS_PROXY_MAX_DURATION": "90"}))
	if err != nil || l.Timeout != 2*time.Second || l.MaxBody != 1024 || l.MaxDuration != 90*time.Second {
		t.Fatalf("set: %+v %v", l, err)
	}
	for name, kv := range map[string]map[string]string{
		"CONNECTORS_PROXY_TIMEOUT":        {"CONNECTORS_PROXY_TIMEOUT": "soon"},
		"negative timeout":                {"CONNECTORS_PROXY_TIMEOUT": "-1s"},
		"CONNECTORS_PROXY_MAX_BODY_BYTES": {"CONNECTORS_PROXY_MAX_BODY_BYTES": "32MiB"},
		"zero body":                       {"CONNECTORS_PROXY_MAX_BODY_BYTES": "0"},
		"CONNECTORS_PROXY_MAX_DURATION":   {"CONNECTORS_PROXY_MAX_DURATION": "1s", "CONNECTORS_PROXY_TIMEOUT": "2s"},
	} {
		_, err := proxy.LimitsFromEnv(env(kv))
		if err == nil {
			t.Errorf("%s: accepted %v", name, kv)
			continue
		}
		for k := range kv {
			if strings.HasPrefix(name, "CONNECTORS_") && !strings.Contains(err.Error(), name) {
				t.Errorf("%s: the error does not name the setting: %v (%s)", name, err, k)
			}
		}
	}
}
