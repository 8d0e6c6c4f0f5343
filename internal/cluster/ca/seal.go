package ca

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// Keys at rest. The cluster has a data key (32 random bytes) that seals what the store must not hold in the
// clear (the root CA's key, the unlock key, users' secrets); only managers hold it, on their disk. With autolock
// a manager keeps its key material (its TLS key and the data key) sealed with the unlock key, which only the
// user holds: a restarted manager stays locked until it is given the key (swarm unlock).

// ErrSealed is wrapped when sealed data cannot be opened with the key given: the key is wrong (or the data was
// tampered with).
var ErrSealed = errors.New("cannot open sealed data: wrong key")

// NewDataKey makes a 32-byte key.
func NewDataKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// KeyID names a key without revealing it.
func KeyID(k []byte) string {
	sum := sha256.Sum256(append([]byte("berth-key-id:"), k...))
	return hex.EncodeToString(sum[:8])
}

// Seal encrypts and authenticates plaintext with a 32-byte key (AES-256-GCM, random nonce first).
func Seal(key, plaintext []byte) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, nil), nil
}

// Open decrypts what Seal sealed with key; a wrong key is an error wrapping ErrSealed.
func Open(key, sealed []byte) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, ErrSealed
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return nil, ErrSealed
	}
	return out, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("a sealing key is 32 bytes, not %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// NewUnlockKey makes an unlock key in docker's human-readable form: SWMKEY-1-<base64 of 32 bytes>.
func NewUnlockKey() string {
	return unlockKeyPrefx + base64.RawStdEncoding.EncodeToString(NewDataKey())
}

// ParseUnlockKey reads an unlock key's bytes; the words are moby's.
func ParseUnlockKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, unlockKeyPrefx) {
		return nil, fmt.Errorf("invalid key: %w", errdefs.ErrInvalidArgument)
	}
	k, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s, unlockKeyPrefx))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("invalid key: %w", errdefs.ErrInvalidArgument)
	}
	return k, nil
}
