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
// another connector. The key comes from the secret store, read once.
type Sealer struct {
	Secrets secret.Store
	// Create lets the sealer generate the key when the secret does not
	// exist yet. Only for a single process (the local run): instances
	// racing to create it would each keep their own key. Deployments
	// provision it (Terraform), and so do tests with several instances
	// (ProvisionKey).
	Create bool

	mu   sync.Mutex
	aead cipher.AEAD
}

// NewSealerWithKey returns a sealer over a fixed 32-byte key (tests).
func NewSealerWithKey(key []byte) (*Sealer, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
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

// key loads the AEAD on first use; a failure is retried on the next call.
func (s *Sealer) key(ctx context.Context) (cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead != nil {
		return s.aead, nil
	}
	b, err := s.Secrets.Get(ctx, CacheKeySecretID, "")
	if errors.Is(err, secret.ErrNotFound) && s.Create {
		if err = ProvisionKey(ctx, s.Secrets); err == nil {
			b, err = s.Secrets.Get(ctx, CacheKeySecretID, "")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mint: token-cache key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(b.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("mint: token-cache key is not base64")
	}
	if s.aead, err = newAEAD(raw); err != nil {
		return nil, err
	}
	return s.aead, nil
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
	aead, err := s.key(ctx)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("mint: seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, aad(name, revision)), nil
}

// Open decrypts a sealed credential into c.
func (s *Sealer) Open(ctx context.Context, name, revision string, sealed []byte, c *Credential) error {
	aead, err := s.key(ctx)
	if err != nil {
		return err
	}
	if len(sealed) < aead.NonceSize() {
		return errors.New("mint: open: sealed credential too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(name, revision))
	if err != nil {
		return errors.New("mint: open: sealed credential does not authenticate")
	}
	if err := json.Unmarshal(plain, c); err != nil {
		return errors.New("mint: open: sealed credential is malformed")
	}
	return nil
}
