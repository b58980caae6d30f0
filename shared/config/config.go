// Package config reads the deployment's settings from the environment. It
// takes a getenv function so tests never touch the process environment.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is what a deployed function needs to find its backends.
type Config struct {
	// Project is the Google Cloud project holding Firestore and Secret
	// Manager (GOOGLE_CLOUD_PROJECT, set by Terraform).
	Project string
	// CollectionPrefix isolates deployments sharing one Firestore database
	// (CONNECTORS_COLLECTION_PREFIX).
	CollectionPrefix string
	// TokenCacheDatabase is the Firestore database holding the shared
	// token cache (CONNECTORS_TOKEN_CACHE_DATABASE; empty: the connectors'
	// own database). Terraform gives the cache a database of its own, so
	// that the minting functions may write the cache while they only read
	// connector metadata where IAM can tell the two apart.
	TokenCacheDatabase string
	// SecretPrefix starts every Secret Manager secret name the service owns,
	// so IAM conditions can be scoped to it (CONNECTORS_SECRET_PREFIX).
	SecretPrefix string
	// AllowInsecureURLs permits http:// token URLs to loopback hosts
	// (CONNECTORS_ALLOW_INSECURE_URLS); never set in production.
	AllowInsecureURLs bool
	// AllowPrivateNetworks lets token requests reach private address ranges
	// (CONNECTORS_ALLOW_PRIVATE_NETWORKS), for providers inside a VPC.
	// Link-local and metadata addresses stay refused.
	AllowPrivateNetworks bool
	// TokenConnectTimeout and TokenTimeout bound each token request
	// (CONNECTORS_TOKEN_CONNECT_TIMEOUT, CONNECTORS_TOKEN_TIMEOUT; Go
	// durations such as 5s).
	TokenConnectTimeout time.Duration
	TokenTimeout        time.Duration
	// DefaultTokenLifetime is assumed when a provider omits expires_in
	// (CONNECTORS_DEFAULT_TOKEN_LIFETIME).
	DefaultTokenLifetime time.Duration
	// RequestTimeout bounds every request's context
	// (CONNECTORS_REQUEST_TIMEOUT), so that a request to an unreachable
	// backend ends as 503 unavailable before the platform kills it.
	RequestTimeout time.Duration
	// TokenCacheKeyVersions are the token-cache key secret's versions,
	// the sealing one first, then those still accepted while a rotation's
	// grace period lasts (CONNECTORS_TOKEN_CACHE_KEY_VERSIONS, e.g. "4,3";
	// set by Terraform). Empty: the latest version.
	TokenCacheKeyVersions []string
}

// Defaults of the token request settings.
const (
	DefaultTokenConnectTimeout  = 5 * time.Second
	DefaultTokenTimeout         = 15 * time.Second
	DefaultDefaultTokenLifetime = time.Hour
	// DefaultRequestTimeout leaves room under the functions' 60 s limit.
	DefaultRequestTimeout = 20 * time.Second
)

// DefaultGCPercent is the functions' GOGC, set by Terraform for every
// function and by the local run when GOGC is unset. Their live heap is a
// few MiB, mostly the client libraries' static tables, so at Go's default
// of 100 the collector runs dozens of times a second under token load and
// rescans those tables each time; at 400 it runs a quarter as often, for
// about 13 MiB more resident memory (scripts/bench, rows 1 and 4b; run it
// with GOGC=100 to compare). Terraform pairs it with a GOMEMLIMIT under
// the instance's memory, so a large heap still cannot outgrow the instance.
const DefaultGCPercent = 400

// DefaultSecretPrefix names secrets connector-<opaque id>.
const DefaultSecretPrefix = "connector-"

// FromEnv reads Config; errors name the variable.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Project:          strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
		CollectionPrefix: getenv("CONNECTORS_COLLECTION_PREFIX"),
		SecretPrefix:     getenv("CONNECTORS_SECRET_PREFIX"),

		TokenCacheDatabase: strings.TrimSpace(getenv("CONNECTORS_TOKEN_CACHE_DATABASE")),
	}
	if c.Project == "" {
		return Config{}, fmt.Errorf("config: GOOGLE_CLOUD_PROJECT is not set")
	}
	if c.SecretPrefix == "" {
		c.SecretPrefix = DefaultSecretPrefix
	}
	var err error
	if c.AllowInsecureURLs, err = boolVar(getenv, "CONNECTORS_ALLOW_INSECURE_URLS"); err != nil {
		return Config{}, err
	}
	if c.AllowPrivateNetworks, err = boolVar(getenv, "CONNECTORS_ALLOW_PRIVATE_NETWORKS"); err != nil {
		return Config{}, err
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"CONNECTORS_TOKEN_CONNECT_TIMEOUT", &c.TokenConnectTimeout, DefaultTokenConnectTimeout},
		{"CONNECTORS_TOKEN_TIMEOUT", &c.TokenTimeout, DefaultTokenTimeout},
		{"CONNECTORS_DEFAULT_TOKEN_LIFETIME", &c.DefaultTokenLifetime, DefaultDefaultTokenLifetime},
		{"CONNECTORS_REQUEST_TIMEOUT", &c.RequestTimeout, DefaultRequestTimeout},
	} {
		if *d.dst, err = durationVar(getenv, d.name, d.def); err != nil {
			return Config{}, err
		}
	}
	if c.TokenCacheKeyVersions, err = versionsVar(getenv, "CONNECTORS_TOKEN_CACHE_KEY_VERSIONS"); err != nil {
		return Config{}, err
	}
	return c, nil
}

// versionsVar reads a comma-separated list of secret version numbers.
func versionsVar(getenv func(string) string, name string) ([]string, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 || strconv.FormatInt(n, 10) != f {
			return nil, fmt.Errorf("config: %s: %q is not a comma-separated list of secret version numbers", name, v)
		}
		out = append(out, f)
	}
	return out, nil
}

// RequestTimeoutFromEnv reads CONNECTORS_REQUEST_TIMEOUT alone, for the
// local run, which has no project to configure.
func RequestTimeoutFromEnv(getenv func(string) string) (time.Duration, error) {
	return durationVar(getenv, "CONNECTORS_REQUEST_TIMEOUT", DefaultRequestTimeout)
}

func boolVar(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("config: %s: %q is not a boolean", name, v)
	}
	return b, nil
}

func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: %s: %q is not a positive duration such as 15s", name, v)
	}
	return d, nil
}
