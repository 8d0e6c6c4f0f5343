package instance

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// keyNameMax is EC2's limit on a key pair's name.
const keyNameMax = 255

func checkKeyName(name string) error {
	if name == "" {
		return newError(CodeMissingParameter, "The request must contain the parameter KeyName", errInvalid)
	}
	if len(name) > keyNameMax {
		return newError(CodeInvalidParameterValue, "Value for parameter KeyName is too long (at most 255 characters)", errInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r > 0x7e {
			return newError(CodeInvalidParameterValue, fmt.Sprintf("Value (%s) for parameter KeyName is invalid. Character sets beyond ASCII are not supported.", name), errInvalid)
		}
	}
	return nil
}

// CreateKeyPair makes a key pair of typ (rsa, the default, or ed25519) and returns it with its private key,
// which is not kept: this is the only time anyone sees it.
func (s *Service) CreateKeyPair(ctx context.Context, name, typ string, tags map[string]string) (KeyPair, []byte, error) {
	if err := checkKeyName(name); err != nil {
		return KeyPair{}, nil, err
	}
	if typ == "" {
		typ = KeyRSA
	}
	priv, pub, fp, err := generateKey(typ)
	if err != nil {
		return KeyPair{}, nil, err
	}
	k, err := s.addKey(name, typ, pub, fp, tags)
	return k, priv, err
}

// ImportKeyPair keeps a public key (authorized_keys format) as key pair name.
func (s *Service) ImportKeyPair(ctx context.Context, name, publicKey string, tags map[string]string) (KeyPair, error) {
	if err := checkKeyName(name); err != nil {
		return KeyPair{}, err
	}
	typ, pub, fp, err := parsePublicKey(publicKey)
	if err != nil {
		return KeyPair{}, err
	}
	return s.addKey(name, typ, pub, fp, tags)
}

func (s *Service) addKey(name, typ, pub, fp string, tags map[string]string) (KeyPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; ok {
		return KeyPair{}, newError(CodeInvalidKeyPairDuplicate, fmt.Sprintf("The keypair '%s' already exists.", name), errExists)
	}
	k := &KeyPair{ID: newID("key"), Name: name, Type: typ, Fingerprint: fp, PublicKey: pub, Created: time.Now().UTC(), Tags: tags}
	s.keys[name] = k
	if err := s.saveKeys(); err != nil {
		delete(s.keys, name)
		return KeyPair{}, err
	}
	return *k, nil
}

// KeyPairs lists the key pairs by name.
func (s *Service) KeyPairs(ctx context.Context) []KeyPair {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KeyPair, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KeyPair finds a key pair by name or ID.
func (s *Service) KeyPair(ctx context.Context, ref string) (KeyPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.keyRef(ref)
	if err != nil {
		return KeyPair{}, err
	}
	return *k, nil
}

func (s *Service) keyRef(ref string) (*KeyPair, error) {
	if k, ok := s.keys[ref]; ok {
		return k, nil
	}
	for _, k := range s.keys {
		if k.ID == ref {
			return k, nil
		}
	}
	return nil, newError(CodeInvalidKeyPairNotFound, fmt.Sprintf("The key pair '%s' does not exist", ref), errNotFound)
}

// DeleteKeyPair forgets a key pair. Instances launched with it keep its public key.
func (s *Service) DeleteKeyPair(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.keyRef(ref)
	if err != nil {
		return err
	}
	delete(s.keys, k.Name)
	if err := s.saveKeys(); err != nil {
		s.keys[k.Name] = k
		return err
	}
	return nil
}
