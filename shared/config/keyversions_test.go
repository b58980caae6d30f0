package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTokenCacheKeyVersions(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			switch k {
			case "GOOGLE_CLOUD_PROJECT":
				return "p"
			case "CONNECTORS_TOKEN_CACHE_KEY_VERSIONS":
				return v
			}
			return ""
		}
	}
	for in, want := range map[string][]string{"": nil, "4": {"4"}, " 4, 3 ": {"4", "3"}} {
		c, err := FromEnv(env(in))
		if err != nil || !slices.Equal(c.TokenCacheKeyVersions, want) {
			t.Errorf("%q: %v %v, want %v", in, c.TokenCacheKeyVersions, err, want)
		}
	}
	for _, bad := range []string{"latest", "4,", "0", "04", "4;3", "-1"} {
		if _, err := FromEnv(env(bad)); err == nil || !strings.Contains(err.Error(), "CONNECTORS_TOKEN_CACHE_KEY_VERSIONS") {
			t.Errorf("%q: %v, want an error naming the variable", bad, err)
		}
	}
}
