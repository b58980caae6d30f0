package platform

import (
	"context"
	"strings"
	"testing"
)

func TestFromEnvNamesTheMissingSetting(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "GOOGLE_CLOUD_PROJECT"},
		{map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_ADMINS": "group:admins@example.com"}, "CONNECTORS_ADMINS"},
		{map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "CONNECTORS_TOKEN_TIMEOUT": "soon"}, "CONNECTORS_TOKEN_TIMEOUT"},
	}
	for _, c := range cases {
		_, err := FromEnv(context.Background(), func(k string) string { return c.env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: error %v, want one naming %s", c.env, err, c.want)
		}
	}
}
