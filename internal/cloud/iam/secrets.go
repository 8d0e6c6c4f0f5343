package iam

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth/berth/internal/atomicfile"
)

// keyFileName holds the AES-256 key that seals secret access keys in the database. It lives next to the database
// (mode 0600): the database alone, copied or backed up, reveals no secret.
const keyFileName = "iam.key"

// sealer encrypts secrets with AES-256-GCM; the access key ID is the additional data, so a sealed secret cannot
// be moved to another key's record.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plaintext, ad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(ad)), nil
}

func (s *sealer) open(sealed []byte, ad string) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret too short")
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return "", errors.New("sealed secret does not open with " + keyFileName)
	}
	return string(p), nil
}

// loadOrCreateKey reads dir/iam.key, creating it (32 random bytes, mode 0600, synced) when create is set.
func loadOrCreateKey(dir string, create bool) ([]byte, error) {
	path := filepath.Join(dir, keyFileName)
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", path, len(key))
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s: mode %o lets others read the key; chmod 600 it", path, fi.Mode().Perm())
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("%s: %w (the secrets in the IAM database cannot be decrypted without it)", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, key, 0o600, atomicfile.NoReplace()); err != nil {
		return nil, err
	}
	return key, nil
}
