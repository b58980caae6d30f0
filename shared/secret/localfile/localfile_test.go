package localfile_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/secret/localfile"
	"connectors.dev/connectors/shared/secret/secrettest"
)

func TestConformance(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) secret.Store {
		return open(t, t.TempDir())
	})
}

func open(t *testing.T, dir string) *localfile.Store {
	t.Helper()
	s, err := localfile.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var sample = secret.Bundle{
	ClientSecret: "client-secret-SENTINEL-1",
	RefreshToken: "refresh-token-SENTINEL-2",
	Password:     "password-SENTINEL-3",
}

func TestFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(t.Context(), "a", nil, sample); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{localfile.KeyFile, localfile.DataFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, perm)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, localfile.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 {
		t.Errorf("key file holds %d bytes, want 32", len(key))
	}
}

func TestDataFileHoldsNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for _, id := range []string{"a", "b"} {
		if _, err := s.Put(t.Context(), id, map[string]string{"team": "x"}, sample); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, localfile.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{sample.ClientSecret, sample.RefreshToken, sample.Password, "SENTINEL"} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("data file contains plaintext %q", v)
		}
	}
	// The same bundle sealed twice must not produce the same bytes: a
	// repeated nonce would be fatal for GCM.
	var f fileJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Secrets["a"].Versions["1"].Ciphertext == f.Secrets["b"].Versions["1"].Ciphertext {
		t.Error("two seals of the same data are identical")
	}
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := localfile.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(t.Context(), "a", nil, secret.Bundle{Password: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DestroyVersion(t.Context(), "a", v2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "a", v1); err == nil {
		t.Error("Get on a closed store succeeded")
	}

	s = open(t, dir)
	got, err := s.Get(t.Context(), "a", v1)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got != sample {
		t.Error("bundle changed across reopen")
	}
	if _, err := s.Get(t.Context(), "a", v2); !errors.Is(err, secret.ErrNotFound) {
		t.Errorf("destroyed version after reopen: got %v, want ErrNotFound", err)
	}
	// Numbers of destroyed versions are never reissued, or a caller holding
	// the old number would read the wrong bundle.
	v3, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	if v3 == v1 || v3 == v2 {
		t.Errorf("Put after reopen reused version %q", v3)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want only the key and data files (temp file left behind?)", len(entries))
	}
}

// fileJSON mirrors the on-disk layout closely enough to tamper with it.
type fileJSON struct {
	Format  int `json:"format"`
	Secrets map[string]struct {
		Labels   map[string]string `json:"labels,omitempty"`
		Last     int64             `json:"last"`
		Versions map[string]struct {
			Nonce      string `json:"nonce"`
			Ciphertext string `json:"ciphertext"`
		} `json:"versions"`
	} `json:"secrets"`
}

// tamper rewrites the data file through edit while the store is closed.
func tamper(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, localfile.DataFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func version(m map[string]any, id, v string) map[string]any {
	return m["secrets"].(map[string]any)[id].(map[string]any)["versions"].(map[string]any)[v].(map[string]any)
}

func TestTamperingIsCorrupt(t *testing.T) {
	cases := []struct {
		name string
		edit func(m map[string]any)
		// version read back from secret "a"
		get string
	}{
		{"FlippedCiphertextBit", func(m map[string]any) {
			v := version(m, "a", "1")
			ct, _ := base64.StdEncoding.DecodeString(v["ciphertext"].(string))
			ct[len(ct)/2] ^= 0x01
			v["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		}, "1"},
		{"FlippedNonceBit", func(m map[string]any) {
			v := version(m, "a", "1")
			n, _ := base64.StdEncoding.DecodeString(v["nonce"].(string))
			n[0] ^= 0x80
			v["nonce"] = base64.StdEncoding.EncodeToString(n)
		}, "1"},
		{"TruncatedNonce", func(m map[string]any) {
			version(m, "a", "1")["nonce"] = base64.StdEncoding.EncodeToString([]byte{1, 2, 3})
		}, "1"},
		{"CiphertextMovedFromOtherSecret", func(m map[string]any) {
			a, b := version(m, "a", "1"), version(m, "b", "1")
			a["nonce"], a["ciphertext"] = b["nonce"], b["ciphertext"]
		}, "1"},
		{"CiphertextMovedFromOtherVersion", func(m map[string]any) {
			a1, a2 := version(m, "a", "1"), version(m, "a", "2")
			a1["nonce"], a1["ciphertext"] = a2["nonce"], a2["ciphertext"]
		}, "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := localfile.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, put := range []struct{ id, pw string }{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}} {
				if _, err := s.Put(t.Context(), put.id, nil, secret.Bundle{Password: put.pw}); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			tamper(t, dir, tc.edit)
			s = open(t, dir)
			_, err = s.Get(t.Context(), "a", tc.get)
			if !errors.Is(err, secret.ErrCorrupt) {
				t.Fatalf("Get after tampering: got %v, want ErrCorrupt", err)
			}
			// The untouched secret stays readable.
			if got, err := s.Get(t.Context(), "b", "1"); err != nil || got.Password != "b1" {
				t.Fatalf("untouched secret: %v", err)
			}
		})
	}
}

func TestMalformedDataFileIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	open(t, dir) // creates the key
	for name, content := range map[string]string{
		"NotJSON":      "this is not json",
		"WrongFormat":  `{"format":99,"secrets":{}}`,
		"BadVersion":   `{"format":1,"secrets":{"a":{"last":1,"versions":{"x":{}}}}}`,
		"VersionAbove": `{"format":1,"secrets":{"a":{"last":1,"versions":{"2":{}}}}}`,
		"InvalidID":    `{"format":1,"secrets":{"a/b":{"last":0,"versions":{}}}}`,
		"NullSecret":   `{"format":1,"secrets":{"a":null}}`,
		"NullVersion":  `{"format":1,"secrets":{"a":{"last":1,"versions":{"1":null}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, localfile.DataFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := localfile.Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a malformed data file")
			}
			if !errors.Is(err, secret.ErrCorrupt) {
				t.Fatalf("Open: got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestWrongKeyIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	v, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	other := make([]byte, 32)
	if _, err := rand.Read(other); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, localfile.KeyFile), other, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if _, err := s.Get(t.Context(), "a", v); !errors.Is(err, secret.ErrCorrupt) {
		t.Fatalf("Get with another key: got %v, want ErrCorrupt", err)
	}
}

func TestKeyFileChecks(t *testing.T) {
	t.Run("GroupOrWorldReadableRejected", func(t *testing.T) {
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			dir := t.TempDir()
			open(t, dir).Close()
			key := filepath.Join(dir, localfile.KeyFile)
			if err := os.Chmod(key, mode); err != nil {
				t.Fatal(err)
			}
			s, err := localfile.Open(dir)
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted a key file with mode %04o", mode)
			}
			if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), key) {
				t.Errorf("mode %04o: error %q does not say which file and how to fix it", mode, err)
			}
		}
	})
	t.Run("WrongLengthRejected", func(t *testing.T) {
		for _, n := range []int{0, 16, 31, 33, 64} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, localfile.KeyFile), make([]byte, n), 0o600); err != nil {
				t.Fatal(err)
			}
			if s, err := localfile.Open(dir); err == nil {
				s.Close()
				t.Errorf("Open accepted a %d-byte key", n)
			}
		}
	})
	t.Run("DataWithoutKeyRefused", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		if _, err := s.Put(t.Context(), "a", nil, sample); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Remove(filepath.Join(dir, localfile.KeyFile)); err != nil {
			t.Fatal(err)
		}
		if s, err := localfile.Open(dir); err == nil {
			s.Close()
			t.Fatal("Open made a new key for existing data")
		}
		if _, err := os.Stat(filepath.Join(dir, localfile.KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a key file was created: %v", err)
		}
	})
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(t.Context(), "a", nil, sample); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tamper(t, dir, func(m map[string]any) {
		v := version(m, "a", "1")
		ct, _ := base64.StdEncoding.DecodeString(v["ciphertext"].(string))
		ct[0] ^= 1
		v["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	})
	s = open(t, dir)
	_, err := s.Get(t.Context(), "a", "1")
	if err == nil {
		t.Fatal("Get succeeded on tampered data")
	}
	if strings.Contains(err.Error(), "SENTINEL") {
		t.Fatalf("error leaks secret data: %v", err)
	}
}
