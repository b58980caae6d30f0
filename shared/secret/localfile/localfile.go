// Package localfile implements secret.Store in one local file, for
// development and single-machine deployments where Secret Manager is not
// available.
//
// The store lives in two files in one directory: secrets.key holds a random
// 256-bit key (mode 0600, created on first Open) and secrets.enc holds JSON
// metadata with every version's data sealed separately by AES-256-GCM. Each
// seal uses a fresh random nonce and binds the secret id and version number
// as additional data, so a ciphertext moved to another entry, or altered,
// fails to open and is reported as secret.ErrCorrupt. Ids, labels and version
// numbers are stored in clear: they are not secret and keeping them readable
// makes the file auditable without the key.
//
// Writes replace secrets.enc atomically (temporary file, fsync, rename) so a
// crash leaves either the old or the new contents. One process at a time may
// use a directory; the in-process mutex does not guard against a second
// process.
package localfile

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"

	"connectors.dev/connectors/shared/secret"
)

// File names inside the store's directory.
const (
	DataFile = "secrets.enc"
	KeyFile  = "secrets.key"
)

const keySize = 32 // AES-256

// fileFormat is bumped when the on-disk layout changes incompatibly.
const fileFormat = 1

// aadPrefix separates this package's additional data from any other use of
// the same key.
const aadPrefix = "connectors/localfile/v1\x00"

// idRe matches Secret Manager's id rule so that ids valid here stay valid
// when a deployment moves to the secretmanager backend.
var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// Store is a secret.Store in a local encrypted file. It is safe for
// concurrent use within one process.
type Store struct {
	dir string

	mu     sync.Mutex
	aead   cipher.AEAD // nil once closed
	key    []byte
	state  fileState
	closed bool
}

var _ secret.Store = (*Store)(nil)

// fileState is the JSON content of secrets.enc.
type fileState struct {
	Format  int                     `json:"format"`
	Secrets map[string]*secretState `json:"secrets"`
}

type secretState struct {
	Labels map[string]string `json:"labels,omitempty"`
	// Last is the highest version number ever issued, so numbers are never
	// reused after a version is destroyed.
	Last     int64                    `json:"last"`
	Versions map[string]*versionState `json:"versions"` // live versions only
}

type versionState struct {
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// Open opens, or creates, the store in dir. It refuses a key file that group
// or others can read, and a data file without its key.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localfile: create dir: %w", err)
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("localfile: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("localfile: cipher: %w", err)
	}
	st, err := loadState(filepath.Join(dir, DataFile))
	if err != nil {
		clear(key)
		return nil, err
	}
	return &Store{dir: dir, aead: aead, key: key, state: st}, nil
}

func loadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A data file without its key can never be read again; making a
		// new key would silently orphan it, so stop and let a human look.
		if _, serr := os.Stat(filepath.Join(dir, DataFile)); serr == nil {
			return nil, fmt.Errorf("localfile: %s exists but its key %s is missing; restore the key or remove the data file", filepath.Join(dir, DataFile), path)
		}
		return createKey(dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("localfile: open key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("localfile: stat key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("localfile: key file %s has mode %04o, readable beyond its owner; run chmod 600 on it", path, perm)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("localfile: key file %s is not a regular file", path)
	}
	key := make([]byte, keySize+1) // one extra byte detects a too-long file
	n, err := io.ReadFull(f, key)
	if err != io.ErrUnexpectedEOF || n != keySize {
		clear(key)
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("localfile: read key: %w", err)
		}
		return nil, fmt.Errorf("localfile: key file %s must hold exactly %d bytes", path, keySize)
	}
	return key[:keySize], nil
}

func createKey(dir, path string) ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("localfile: generate key: %w", err)
	}
	// O_EXCL: two processes opening a fresh directory must not each write a
	// key and leave one of them encrypting with a key that was overwritten.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localfile: create key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("localfile: write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("localfile: sync key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("localfile: close key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return key, nil
}

func loadState(path string) (fileState, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{Format: fileFormat, Secrets: map[string]*secretState{}}, nil
	}
	if err != nil {
		return fileState{}, fmt.Errorf("localfile: read data: %w", err)
	}
	var st fileState
	if err := json.Unmarshal(raw, &st); err != nil {
		// json's error can quote input; the input holds only ciphertext,
		// but say nothing more than the position.
		return fileState{}, fmt.Errorf("localfile: %s is not valid: %w", path, secret.ErrCorrupt)
	}
	if st.Format != fileFormat {
		return fileState{}, fmt.Errorf("localfile: %s has format %d, want %d: %w", path, st.Format, fileFormat, secret.ErrCorrupt)
	}
	if st.Secrets == nil {
		st.Secrets = map[string]*secretState{}
	}
	for id, s := range st.Secrets {
		if s == nil || !idRe.MatchString(id) {
			return fileState{}, fmt.Errorf("localfile: %s has a malformed entry: %w", path, secret.ErrCorrupt)
		}
		if s.Versions == nil {
			s.Versions = map[string]*versionState{}
		}
		for v, vs := range s.Versions {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > s.Last || vs == nil {
				return fileState{}, fmt.Errorf("localfile: %s has a malformed version: %w", path, secret.ErrCorrupt)
			}
		}
	}
	return st, nil
}

func aad(id string, version int64) []byte {
	return []byte(aadPrefix + id + "\x00" + strconv.FormatInt(version, 10))
}

// lock takes the mutex and fails if the store is closed or ctx is done; on
// success the caller must unlock.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localfile: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("localfile: store is closed")
	}
	return nil
}

func checkID(id string) error {
	if !idRe.MatchString(id) {
		return fmt.Errorf("localfile: invalid secret id %q (want 1 to 255 letters, digits, '_' or '-')", id)
	}
	return nil
}

// parseVersion accepts only the canonical decimal form, so "01" and "1" are
// not two names for one version.
func parseVersion(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == v
}

// Put implements secret.Store.
func (s *Store) Put(ctx context.Context, id string, labels map[string]string, b secret.Bundle) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()

	next := s.cloneState()
	sec := next.Secrets[id]
	if sec == nil {
		sec = &secretState{Labels: maps.Clone(labels), Versions: map[string]*versionState{}}
		next.Secrets[id] = sec
	}
	sec.Last++
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("localfile: nonce: %w", err)
	}
	data := b.Marshal()
	ct := s.aead.Seal(nil, nonce, data, aad(id, sec.Last))
	clear(data)
	version := strconv.FormatInt(sec.Last, 10)
	sec.Versions[version] = &versionState{Nonce: nonce, Ciphertext: ct}
	if err := s.commit(next); err != nil {
		return "", err
	}
	return version, nil
}

// Get implements secret.Store. Version "" is the highest live version.
func (s *Store) Get(ctx context.Context, id, version string) (secret.Bundle, error) {
	if err := checkID(id); err != nil {
		return secret.Bundle{}, err
	}
	if err := s.lock(ctx); err != nil {
		return secret.Bundle{}, err
	}
	defer s.mu.Unlock()

	sec := s.state.Secrets[id]
	if sec == nil {
		return secret.Bundle{}, fmt.Errorf("localfile: get %s: %w", id, secret.ErrNotFound)
	}
	var n int64
	if version == "" {
		for v := range sec.Versions {
			if m, _ := parseVersion(v); m > n {
				n = m
			}
		}
	} else if m, ok := parseVersion(version); ok {
		n = m
	}
	vs := sec.Versions[strconv.FormatInt(n, 10)]
	if vs == nil {
		return secret.Bundle{}, fmt.Errorf("localfile: get %s version %q: %w", id, version, secret.ErrNotFound)
	}
	if len(vs.Nonce) != s.aead.NonceSize() { // Open would panic
		return secret.Bundle{}, fmt.Errorf("localfile: get %s version %d: bad nonce: %w", id, n, secret.ErrCorrupt)
	}
	data, err := s.aead.Open(nil, vs.Nonce, vs.Ciphertext, aad(id, n))
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("localfile: get %s version %d: authentication failed: %w", id, n, secret.ErrCorrupt)
	}
	defer clear(data)
	b, err := secret.UnmarshalBundle(data)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("localfile: get %s version %d: %w", id, n, err)
	}
	return b, nil
}

// DestroyVersion implements secret.Store.
func (s *Store) DestroyVersion(ctx context.Context, id, version string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()

	if sec := s.state.Secrets[id]; sec == nil || sec.Versions[version] == nil {
		return nil
	}
	next := s.cloneState()
	delete(next.Secrets[id].Versions, version)
	return s.commit(next)
}

// Prune implements secret.Store: it destroys the versions older than keep.
// If keep is not a live version it destroys nothing and returns
// secret.ErrNotFound: pruning around a version that is not there could
// leave the secret with no readable version at all.
func (s *Store) Prune(ctx context.Context, id, keep string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()

	sec := s.state.Secrets[id]
	if sec == nil || sec.Versions[keep] == nil {
		return fmt.Errorf("localfile: prune %s: keep version %q: %w", id, keep, secret.ErrNotFound)
	}
	older := 0
	for v := range sec.Versions {
		if secret.Older(v, keep) {
			older++
		}
	}
	if older == 0 {
		return nil
	}
	next := s.cloneState()
	for v := range next.Secrets[id].Versions {
		if secret.Older(v, keep) {
			delete(next.Secrets[id].Versions, v)
		}
	}
	return s.commit(next)
}

// Delete implements secret.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()

	if s.state.Secrets[id] == nil {
		return nil
	}
	next := s.cloneState()
	delete(next.Secrets, id)
	return s.commit(next)
}

// IDs implements secret.Store.
func (s *Store) IDs(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()

	ids := make([]string, 0, len(s.state.Secrets))
	for id := range s.state.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Close forgets the key; later calls fail. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		clear(s.key)
		s.aead = nil
		s.state = fileState{}
	}
	return nil
}

// cloneState copies the in-memory state so a mutation can be prepared and
// written before it becomes visible; a failed write then changes nothing.
// Ciphertexts are immutable and shared.
func (s *Store) cloneState() fileState {
	next := fileState{Format: fileFormat, Secrets: make(map[string]*secretState, len(s.state.Secrets)+1)}
	for id, sec := range s.state.Secrets {
		c := &secretState{Labels: sec.Labels, Last: sec.Last, Versions: make(map[string]*versionState, len(sec.Versions)+1)}
		for v, vs := range sec.Versions {
			c.Versions[v] = vs
		}
		next.Secrets[id] = c
	}
	return next
}

// commit writes next to disk atomically and then adopts it.
func (s *Store) commit(next fileState) error {
	raw, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("localfile: encode: %w", err)
	}
	if err := writeAtomic(s.dir, DataFile, raw); err != nil {
		return err
	}
	s.state = next
	return nil
}

func writeAtomic(dir, name string, raw []byte) (err error) {
	// CreateTemp makes the file 0600, so the data is never briefly readable
	// by others.
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("localfile: write: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(raw); err != nil {
		return fmt.Errorf("localfile: write: %w", err)
	}
	// Sync before rename: otherwise a crash can leave the new name pointing
	// at an empty file on some filesystems.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("localfile: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("localfile: close: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("localfile: rename: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localfile: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("localfile: sync dir: %w", err)
	}
	return nil
}
