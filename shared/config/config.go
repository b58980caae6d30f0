// Package config reads the deployment's settings from the environment. It
// takes a getenv function so tests never touch the process environment.
package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is what a deployed function needs to find its backends.
type Config struct {
	// Project is the Google Cloud project holding Firestore and Secret
	// Manager (GOOGLE_CLOUD_PROJECT, set by Terraform).
	Project string
	// CollectionPrefix isolates deployments sharing one Firestore database
	// (CONNECTORS_COLLECTION_PREFIX).
	CollectionPrefix string
	// SecretPrefix starts every Secret Manager secret name the service owns,
	// so IAM conditions can be scoped to it (CONNECTORS_SECRET_PREFIX).
	SecretPrefix string
	// AllowInsecureURLs permits http:// token URLs to loopback hosts
	// (CONNECTORS_ALLOW_INSECURE_URLS); never set in production.
	AllowInsecureURLs bool
}

// DefaultSecretPrefix names secrets connector-<opaque id>.
const DefaultSecretPrefix = "connector-"

// FromEnv reads Config; errors name the variable.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Project:          strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
		CollectionPrefix: getenv("CONNECTORS_COLLECTION_PREFIX"),
		SecretPrefix:     getenv("CONNECTORS_SECRET_PREFIX"),
	}
	if c.Project == "" {
		return Config{}, fmt.Errorf("config: GOOGLE_CLOUD_PROJECT is not set")
	}
	if c.SecretPrefix == "" {
		c.SecretPrefix = DefaultSecretPrefix
	}
	if v := getenv("CONNECTORS_ALLOW_INSECURE_URLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("config: CONNECTORS_ALLOW_INSECURE_URLS: %q is not a boolean", v)
		}
		c.AllowInsecureURLs = b
	}
	return c, nil
}
