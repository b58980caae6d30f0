package mint

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"connectors.dev/connectors/shared/secret"
)

// CacheKeySecretID names the secret holding the token-cache key.
const CacheKeySecretID = "token-cache-key"

// Sealer encrypts credentials for the shared cache with AES-256-GCM, bound
// to the connector name and revision so an entry cannot be replayed for
// another connector. The keys come from the secret store, read once.
type Sealer struct {
	Secrets secret.Store
	// Create lets the sealer generate the key when the secret does not
	// exist yet. Only for a single process (the local run): instances
	// racing to create it would each keep their own key. Deployments
	// provision it (Terraform), and so do tests with several instances
	// (ProvisionKey).
	Create bool
	// Versions names the key secret's versions to use: the first seals,
	// and every one of them opens. Terraform lists the new key first and,
	// for a rotation's grace period, the previous one after it
	// (CONNECTORS_TOKEN_CACHE_KEY_VERSIONS), so that entries sealed by
	// instances still running with the previous key stay readable instead
	// of being minted again. Empty: the latest version alone.
	Versions []string

	mu   sync.Mutex
	keys []cipher.AEAD // keys[0] seals
}

// NewSealerWithKey returns a sealer over fixed 32-byte keys (tests): the
// first seals, all of them open.
func NewSealerWithKey(key []byte, older ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for _, k := range append([][]byte{key}, older...) {
		aead, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, aead)
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("mint: token-cache key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("mint: token-cache key: %w", err)
	}
	return cipher.NewGCM(block)
}

// loadKeys reads the keys on first use; a failure is retried on the next
// call.
func (s *Sealer) loadKeys(ctx context.Context) ([]cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil {
		return s.keys, nil
	}
	versions := s.Versions
	if len(versions) == 0 {
		versions = []string{""} // latest
	}
	var keys []cipher.AEAD
	for i, v := range versions {
		aead, err := s.loadKey(ctx, v)
		if err != nil && i > 0 && errors.Is(err, secret.ErrNotFound) {
			// A previous key destroyed once its grace period ended, before
			// this instance's configuration caught up: sealing needs only
			// the first, and entries under the old key are simply minted
			// again.
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, aead)
	}
	s.keys = keys
	return keys, nil
}

// loadKey reads one version of the key ("" is the latest).
func (s *Sealer) loadKey(ctx context.Context, version string) (cipher.AEAD, error) {
	b, err := s.Secrets.Get(ctx, CacheKeySecretID, version)
	if errors.Is(err, secret.ErrNotFound) && s.Create && version == "" {
		if err = ProvisionKey(ctx, s.Secrets); err == nil {
			b, err = s.Secrets.Get(ctx, CacheKeySecretID, "")
		}
	}
	name := "latest"
	if version != "" {
		name = "version " + version
	}
	if err != nil {
		return nil, fmt.Errorf("mint: token-cache key (%s): %w", name, err)
	}
	raw, err := base64.StdEncoding.DecodeString(b.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("mint: token-cache key (%s) is not base64", name)
	}
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, name)
	}
	return aead, nil
}

// ProvisionKey stores a new random token-cache key in secrets, as
// Terraform does for a deployment.
func ProvisionKey(ctx context.Context, secrets secret.Store) error {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	b := secret.Bundle{ClientSecret: base64.StdEncoding.EncodeToString(raw)}
	if _, err := secrets.Put(ctx, CacheKeySecretID, map[string]string{"purpose": "token-cache"}, b); err != nil {
		return fmt.Errorf("mint: provision token-cache key: %w", err)
	}
	return nil
}

func aad(name, revision string) []byte {
	return []byte("connectors-token\x00" + name + "\x00" + revision)
}

// Seal encrypts c for connector name at revision.
func (s *Sealer) Seal(ctx context.Context, name, revision string, c *Credential) ([]byte, error) {
	keys, err := s.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	aead := keys[0]
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("mint: seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, aad(name, revision)), nil
}

// Open decrypts a sealed credential into c with whichever key sealed it.
func (s *Sealer) Open(ctx context.Context, name, revision string, sealed []byte, c *Credential) error {
	keys, err := s.loadKeys(ctx)
	if err != nil {
		return err
	}
	for _, aead := range keys {
		if len(sealed) < aead.NonceSize() {
			return errors.New("mint: open: sealed credential too short")
		}
		// GCM authenticates: a key that did not seal the entry fails here
		// rather than yielding garbage.
		plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(name, revision))
		if err != nil {
			continue
		}
		if err := json.Unmarshal(plain, c); err != nil {
			return errors.New("mint: open: sealed credential is malformed")
		}
		return nil
	}
	return errors.New("mint: open: sealed credential does not authenticate")
}
