package ec2api

import (
	"encoding/base64"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

var keyIDPattern = regexp.MustCompile(`^key-([0-9a-f]{8}|[0-9a-f]{17})$`)

var keyPairFilters = filterSpec[KeyPair]{
	fields: map[string]func(KeyPair) []string{
		"key-pair-id": one(func(k KeyPair) string { return k.ID }),
		"key-name":    one(func(k KeyPair) string { return k.Name }),
		"fingerprint": one(func(k KeyPair) string { return k.Fingerprint }),
		"key-type":    one(func(k KeyPair) string { return k.Type }),
	},
	tags: func(k KeyPair) map[string]string { return k.Tags },
}

func wireKey(k KeyPair, withPublic bool) wireKeyPair {
	w := wireKeyPair{KeyPairID: k.ID, KeyFingerprint: k.Fingerprint, KeyName: k.Name, KeyType: k.Type,
		TagSet: wireTags(k.Tags), CreateTime: wireTime(k.Created)}
	if withPublic {
		w.PublicKey = k.PublicKey
	}
	return w
}

// findKey finds a key pair by name or ID in a listing.
func findKey(keys []KeyPair, ref string) (KeyPair, bool) {
	for _, k := range keys {
		if k.Name == ref || k.ID == ref {
			return k, true
		}
	}
	return KeyPair{}, false
}

func (s *Service) createKeyPair(c *call) (response, error) {
	name := c.f.get("KeyName")
	if name == "" {
		return nil, errMissing("KeyName")
	}
	typ := c.f.get("KeyType")
	switch typ {
	case "", "rsa", "ed25519":
	default:
		return nil, errInvalidValue("Invalid value '%s' for keyType. Valid values: rsa, ed25519", typ)
	}
	switch format := c.f.get("KeyFormat"); format {
	case "", "pem":
	case "ppk":
		return nil, errUnsupported("Berth creates key pairs in the pem format only; convert the key with puttygen for PuTTY.")
	default:
		return nil, errInvalidValue("Invalid value '%s' for keyFormat. Valid values: pem, ppk", format)
	}
	specs, err := c.f.tagSpecs([]string{"key-pair"})
	if err != nil {
		return nil, err
	}
	if err := s.checkNewKeyName(c, name); err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	k, priv, err := s.b.CreateKeyPair(c.ctx, name, typ, specs["key-pair"])
	if err != nil {
		return nil, err
	}
	return &createKeyPairResponse{KeyFingerprint: k.Fingerprint, KeyMaterial: strings.TrimRight(string(priv), "\n"),
		KeyName: k.Name, KeyPairID: k.ID, TagSet: wireTags(k.Tags)}, nil
}

// checkNewKeyName refuses a key name EC2 would, and one that is taken.
func (s *Service) checkNewKeyName(c *call, name string) error {
	if len(name) > 255 {
		return errInvalidValue("Value for parameter KeyName is too long (at most 255 characters)")
	}
	for _, r := range name {
		if r < 0x20 || r > 0x7e {
			return errInvalidValue("Value (%s) for parameter KeyName is invalid. Character sets beyond ASCII are not supported.", name)
		}
	}
	keys, err := s.b.KeyPairs(c.ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Name == name {
			return Errorf(CodeInvalidKeyPairDuplicate, "The keypair '%s' already exists.", name)
		}
	}
	return nil
}

func (s *Service) importKeyPair(c *call) (response, error) {
	name := c.f.get("KeyName")
	if name == "" {
		return nil, errMissing("KeyName")
	}
	if !c.f.has("PublicKeyMaterial") {
		return nil, errMissing("PublicKeyMaterial")
	}
	pub, err := parsePublicKeyMaterial(c.f.get("PublicKeyMaterial"))
	if err != nil {
		return nil, err
	}
	specs, err := c.f.tagSpecs([]string{"key-pair"})
	if err != nil {
		return nil, err
	}
	if err := s.checkNewKeyName(c, name); err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	k, err := s.b.ImportKeyPair(c.ctx, name, pub, specs["key-pair"])
	if err != nil {
		return nil, err
	}
	return &importKeyPairResponse{KeyFingerprint: k.Fingerprint, KeyName: k.Name, KeyPairID: k.ID, TagSet: wireTags(k.Tags)}, nil
}

// parsePublicKeyMaterial reads ImportKeyPair's key: base64 (the blob's encoding on the wire) of a public key in
// OpenSSH's authorized_keys format, RSA (2048 bits or more) or ED25519 as EC2 takes; it returns the key as one
// authorized_keys line without its comment.
func parsePublicKeyMaterial(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", errInvalidValue("Value for parameter PublicKeyMaterial is invalid: it is not base64-encoded")
	}
	bad := Errorf(CodeInvalidKeyFormat, "Key is not in valid OpenSSH public key format")
	pub, _, _, rest, err := ssh.ParseAuthorizedKey(raw)
	if err != nil || strings.TrimSpace(string(rest)) != "" {
		return "", bad
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok && rk.Size()*8 < 2048 {
				return "", errInvalidValue("The RSA key is too short: EC2 takes RSA keys of 2048 bits or more")
			}
		}
	case ssh.KeyAlgoED25519:
	default:
		return "", bad
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), nil
}

func (s *Service) describeKeyPairs(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	match, err := keyPairFilters.compile(filters)
	if err != nil {
		return nil, err
	}
	withPublic, err := c.f.boolean("IncludePublicKey")
	if err != nil {
		return nil, err
	}
	keys, err := s.b.KeyPairs(c.ctx)
	if err != nil {
		return nil, err
	}
	names, ids := c.f.list("KeyName"), c.f.list("KeyPairId")
	have := map[string]bool{}
	for _, k := range keys {
		have["name/"+k.Name], have["id/"+k.ID] = true, true
	}
	for _, name := range names {
		if !have["name/"+name] {
			return nil, errKeyPairNotFound(name)
		}
	}
	for _, id := range ids {
		if !have["id/"+id] {
			return nil, errKeyPairIDNotFound(id)
		}
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	resp := &describeKeyPairsResponse{KeySet: items[wireKeyPair]{}}
	for _, k := range keys {
		if (len(names) > 0 || len(ids) > 0) && !contains(names, k.Name) && !contains(ids, k.ID) {
			continue
		}
		if match(k) {
			resp.KeySet = append(resp.KeySet, wireKey(k, withPublic))
		}
	}
	return resp, nil
}

func (s *Service) deleteKeyPair(c *call) (response, error) {
	name, id := c.f.get("KeyName"), c.f.get("KeyPairId")
	if name == "" && id == "" {
		return nil, errMissing("KeyName or KeyPairId")
	}
	keys, err := s.b.KeyPairs(c.ctx)
	if err != nil {
		return nil, err
	}
	ref := name
	if id != "" {
		ref = id
	}
	k, ok := findKey(keys, ref)
	switch {
	case !ok && id != "":
		return nil, errKeyPairIDNotFound(id)
	case !ok: // EC2 deletes a key pair by name idempotently: a missing one is no error
		if err := c.dry(); err != nil {
			return nil, err
		}
		return &deleteKeyPairResponse{Return: true}, nil
	case name != "" && id != "" && k.Name != name:
		return nil, Errorf(CodeInvalidParameterCombination, "The key pair '%s' is not named '%s'", id, name)
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	if err := s.b.DeleteKeyPair(c.ctx, k.ID); err != nil {
		return nil, err
	}
	return &deleteKeyPairResponse{Return: true, KeyPairID: k.ID}, nil
}
