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

// CreateKeyPair makes a key pair of typ (rsa, the default, or ed25519) for the caller's account and returns it
// with its private key, which is not kept: this is the only time anyone sees it. Its name is unique in the
// account (InvalidKeyPair.Duplicate).
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
	k, err := s.addKey(ctx, name, typ, pub, fp, tags)
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
	return s.addKey(ctx, name, typ, pub, fp, tags)
}

func (s *Service) addKey(ctx context.Context, name, typ, pub, fp string, tags map[string]string) (KeyPair, error) {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.Name == name && k.Owner == sc.owner {
			return KeyPair{}, newError(CodeInvalidKeyPairDuplicate, fmt.Sprintf("The keypair '%s' already exists.", name), errExists)
		}
	}
	k := &KeyPair{ID: newID("key"), Owner: sc.owner, Name: name, Type: typ, Fingerprint: fp, PublicKey: pub,
		Created: time.Now().UTC(), Tags: copyTags(tags)}
	s.keys[k.ID] = k
	if err := s.saveKeys(); err != nil {
		delete(s.keys, k.ID)
		return KeyPair{}, err
	}
	return *k, nil
}

// KeyPairs lists the key pairs the caller sees, by name.
func (s *Service) KeyPairs(ctx context.Context) []KeyPair {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KeyPair, 0, len(s.keys))
	for _, k := range s.keys {
		if sc.sees(k.Owner) {
			out = append(out, *k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Owner < out[j].Owner
	})
	return out
}

// KeyPair finds a key pair by name or ID.
func (s *Service) KeyPair(ctx context.Context, ref string) (KeyPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.keyRef(scopeOf(ctx), ref)
	if err != nil {
		return KeyPair{}, err
	}
	return *k, nil
}

// keyRef finds a key pair the scope sees by ID or name; the caller holds s.mu.
func (s *Service) keyRef(sc scope, ref string) (*KeyPair, error) {
	if k, ok := s.keys[ref]; ok && sc.sees(k.Owner) {
		return k, nil
	}
	var named []*KeyPair
	var owners []string
	for _, k := range s.keys {
		if k.Name == ref && sc.sees(k.Owner) {
			named, owners = append(named, k), append(owners, k.Owner)
		}
	}
	i, err := sc.pick("key pair", ref, owners)
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		return named[i], nil
	}
	return nil, newError(CodeInvalidKeyPairNotFound, fmt.Sprintf("The key pair '%s' does not exist", ref), errNotFound)
}

// DeleteKeyPair forgets a key pair. Instances launched with it keep its public key.
func (s *Service) DeleteKeyPair(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.keyRef(scopeOf(ctx), ref)
	if err != nil {
		return err
	}
	delete(s.keys, k.ID)
	if err := s.saveKeys(); err != nil {
		s.keys[k.ID] = k
		return err
	}
	return nil
}

// copyTags is tags as a map of the service's own (nil for none): a caller's map is never kept.
func copyTags(tags map[string]string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}
