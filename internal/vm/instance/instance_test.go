package instance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
)

func TestLookupType(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Type
		wantErr string
	}{
		{name: "default", in: "", want: Type{"t2.micro", 1, 1024, 8}},
		{name: "t2.medium", in: "t2.medium", want: Type{"t2.medium", 2, 4096, 8}},
		{name: "unknown", in: "p4d.24xlarge", wantErr: "Invalid value 'p4d.24xlarge' for InstanceType."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookupType(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || CodeOf(err) != CodeInvalidParameterValue || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v (%s), want %q", err, CodeOf(err), tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
}

func TestOvercommit(t *testing.T) {
	micro, medium := Type{VCPUs: 1, MemoryMiB: 1024}, Type{VCPUs: 2, MemoryMiB: 4096}
	tests := []struct {
		name    string
		running []Type
		add     Type
		want    []string
	}{
		{name: "fits", running: []Type{micro}, add: micro},
		{name: "cpus", running: []Type{medium}, add: micro, want: []string{"running instances ask for 3 vCPUs and the host has 2 CPUs"}},
		{name: "cpus and memory", running: []Type{medium, medium}, add: medium,
			want: []string{"running instances ask for 12288 MiB of memory and the host has 8192 MiB", "running instances ask for 6 vCPUs and the host has 2 CPUs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := overcommit(tt.running, tt.add, 2, 8192)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("warning %d: %q, want %q…", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestIDs(t *testing.T) {
	for _, prefix := range []string{"i", "sg", "key"} {
		id := newID(prefix)
		if len(id) != len(prefix)+18 || !IsID(prefix, id) {
			t.Errorf("%s: %q", prefix, id)
		}
	}
	tests := []struct {
		name, prefix, id string
		want             bool
	}{
		{name: "long", prefix: "i", id: "i-0123456789abcdef0", want: true},
		{name: "old short", prefix: "i", id: "i-01234567", want: true},
		{name: "upper case", prefix: "i", id: "i-0123456789ABCDEF0"},
		{name: "other kind", prefix: "sg", id: "i-0123456789abcdef0"},
		{name: "too short", prefix: "i", id: "i-0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsID(tt.prefix, tt.id); got != tt.want {
				t.Errorf("IsID(%q, %q) = %v", tt.prefix, tt.id, got)
			}
		})
	}
	if got := AMIID("sha256:0123456789abcdef0123456789abcdef"); got != "ami-0123456789abcdef0" {
		t.Errorf("AMIID = %q", got)
	}
}

func TestKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edSSH, _ := ssh.NewPublicKey(edPub)
	tests := []struct {
		name     string
		material string
		wantType string
		wantFP   func(string) bool
		wantErr  string
	}{
		{name: "imported rsa: md5, colon-separated", material: string(ssh.MarshalAuthorizedKey(rsaPub)), wantType: KeyRSA,
			wantFP: func(fp string) bool { return len(fp) == 47 && strings.Count(fp, ":") == 15 }},
		{name: "imported ed25519 with a comment: sha256 base64", material: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edSSH))) + " me@host",
			wantType: KeyED25519, wantFP: func(fp string) bool { return len(fp) == 44 && strings.HasSuffix(fp, "=") }},
		{name: "garbage", material: "ssh-rsa notbase64", wantErr: "not in valid OpenSSH public key format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, pub, fp, err := parsePublicKey(tt.material)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || CodeOf(err) != CodeInvalidKeyFormat {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || typ != tt.wantType || !tt.wantFP(fp) || strings.Contains(pub, "me@host") {
				t.Errorf("got %q %q %q, %v", typ, pub, fp, err)
			}
		})
	}
	for _, typ := range []string{KeyRSA, KeyED25519} {
		priv, pub, fp, err := generateKey(typ)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(priv)
		if err != nil || strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) != pub || fp == "" {
			t.Errorf("%s: generated key does not match its public half (%v)", typ, err)
		}
	}
}

// The service keeps key pairs and groups across a restart, and refuses duplicates with EC2's codes.
func TestServiceState(t *testing.T) {
	root := t.TempDir()
	cfg := Config{Root: filepath.Join(root, "vm"), RunRoot: filepath.Join(root, "run")}
	ctx := context.Background()
	s, err := New(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateKeyPair(ctx, "k1", KeyED25519, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateKeyPair(ctx, "k1", KeyRSA, nil)
	if CodeOf(err) != CodeInvalidKeyPairDuplicate || !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate key pair: %v (%s)", err, CodeOf(err))
	}
	g, err := s.CreateSecurityGroup(ctx, "web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "i-0123456789abcdef0"); CodeOf(err) != CodeInvalidInstanceIDNotFound {
		t.Errorf("unknown instance: %v", err)
	}
	if _, err := s.Get(ctx, "i-xyz"); CodeOf(err) != CodeInvalidInstanceIDMalf {
		t.Errorf("malformed instance ID: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(wctx, "nope", Running); CodeOf(err) != CodeInvalidInstanceIDNotFound {
		t.Errorf("wait for an unknown instance: %v", err)
	}
	s.Close()

	s2, err := New(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if k, err := s2.KeyPair(ctx, "k1"); err != nil || k.Type != KeyED25519 {
		t.Errorf("key pair after a restart: %+v, %v", k, err)
	}
	groups := s2.SecurityGroups(ctx)
	if len(groups) != 2 || groups[0].Name != DefaultGroupName || groups[1].ID != g.ID {
		t.Errorf("groups after a restart: %+v (one default group, not a second one)", groups)
	}
}
