package instance

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key pair types.
const (
	KeyRSA     = "rsa"
	KeyED25519 = "ed25519"
)

// generateKey makes a key pair of typ: its private key as EC2 hands it out (PEM: PKCS#1 for RSA, OpenSSH's format
// for ED25519), its public key in authorized_keys format, and its fingerprint as EC2 computes it for keys it
// created (SHA-1 of the PKCS#8 private key for RSA, SHA-256 of the public key for ED25519).
func generateKey(typ string) (private []byte, public, fingerprint string, err error) {
	switch typ {
	case KeyRSA, "":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, "", "", err
		}
		pub, err := ssh.NewPublicKey(&k.PublicKey)
		if err != nil {
			return nil, "", "", err
		}
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, "", "", err
		}
		sum := sha1.Sum(p8)
		private = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		return private, authorizedKey(pub), colonHex(sum[:]), nil
	case KeyED25519:
		pubKey, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", "", err
		}
		blk, err := ssh.MarshalPrivateKey(k, "")
		if err != nil {
			return nil, "", "", err
		}
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return nil, "", "", err
		}
		return pem.EncodeToMemory(blk), authorizedKey(pub), sha256Fingerprint(pub), nil
	}
	return nil, "", "", newError(CodeInvalidParameterValue, fmt.Sprintf("Invalid value '%s' for keyType. Valid values: rsa, ed25519", typ), errInvalid)
}

// parsePublicKey reads an imported public key (authorized_keys format, with or without a comment): its type,
// its canonical form and its fingerprint as EC2 computes it for imported keys (MD5 of the public key's DER for
// RSA, SHA-256 for ED25519).
func parsePublicKey(material string) (typ, public, fingerprint string, err error) {
	pub, _, _, _, perr := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(material)))
	if perr != nil {
		return "", "", "", newError(CodeInvalidKeyFormat, "Key is not in valid OpenSSH public key format", errInvalid)
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		ck, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			break
		}
		der, err := x509.MarshalPKIXPublicKey(ck.CryptoPublicKey())
		if err != nil {
			break
		}
		sum := md5.Sum(der)
		return KeyRSA, authorizedKey(pub), colonHex(sum[:]), nil
	case ssh.KeyAlgoED25519:
		return KeyED25519, authorizedKey(pub), sha256Fingerprint(pub), nil
	}
	return "", "", "", newError(CodeInvalidKeyFormat, "Key is not in valid OpenSSH public key format: only RSA and ED25519 keys are supported", errInvalid)
}

func authorizedKey(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}
