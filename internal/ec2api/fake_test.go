package ec2api

import (
	"context"
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
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// fakeBackend is an in-memory Backend that behaves as the VM engine does (internal/vm/instance): EC2's codes and
// words in its errors, a default security group that admits its own members, rules kept one source each, and
// instances that move through EC2's states. A transitional state (pending, stopping, shutting-down) is shown
// once by Instances and has moved on at the next listing, so a client polling DescribeInstances sees what it
// sees on EC2 without the test waiting for a clock.
type fakeBackend struct {
	mu        sync.Mutex
	keys      map[string]*KeyPair // by name
	groups    []*SecurityGroup
	images    []Image
	instances []*fakeInstance
	nextIP    int
	runs      []RunOptions // what Run was asked, in order
	failRunAt int          // Run fails on this call (1-based), 0: never
	console   map[string][]byte
}

type fakeInstance struct {
	Instance
	seen bool // its transitional state has been listed once
}

var fakeTypes = []InstanceType{
	{"t2.nano", 1, 512, 8}, {"t2.micro", 1, 1024, 8}, {"t2.small", 1, 2048, 8}, {"t3.micro", 2, 1024, 8},
	{"t3.large", 2, 8192, 8}, {"m5.xlarge", 4, 16384, 8},
}

func newFakeBackend(images ...Image) *fakeBackend {
	b := &fakeBackend{keys: map[string]*KeyPair{}, images: images, nextIP: 2, console: map[string][]byte{}}
	id := fakeID("sg")
	b.groups = append(b.groups, &SecurityGroup{ID: id, Name: "default", Description: "default VPC security group",
		Rules: []Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []string{id}}}, Created: time.Now().UTC()})
	return b
}

func fakeID(prefix string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

func fakeErr(code, format string, args ...any) error { return Errorf(code, format, args...) }

func copyTags(t map[string]string) map[string]string {
	if t == nil {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// Key pairs.

func (b *fakeBackend) CreateKeyPair(ctx context.Context, name, typ string, tags map[string]string) (KeyPair, []byte, error) {
	var priv []byte
	var pub ssh.PublicKey
	var fp string
	switch typ {
	case "", "rsa":
		typ = "rsa"
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return KeyPair{}, nil, err
		}
		pub, _ = ssh.NewPublicKey(&k.PublicKey)
		p8, _ := x509.MarshalPKCS8PrivateKey(k)
		sum := sha1.Sum(p8)
		fp = colonHex(sum[:])
		priv = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case "ed25519":
		pk, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return KeyPair{}, nil, err
		}
		blk, err := ssh.MarshalPrivateKey(k, "")
		if err != nil {
			return KeyPair{}, nil, err
		}
		pub, _ = ssh.NewPublicKey(pk)
		sum := sha256.Sum256(pub.Marshal())
		fp = base64.StdEncoding.EncodeToString(sum[:])
		priv = pem.EncodeToMemory(blk)
	default:
		return KeyPair{}, nil, fakeErr(CodeInvalidParameterValue, "Invalid value '%s' for keyType.", typ)
	}
	k, err := b.addKey(name, typ, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), fp, tags)
	return k, priv, err
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func (b *fakeBackend) ImportKeyPair(ctx context.Context, name, publicKey string, tags map[string]string) (KeyPair, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicKey))
	if err != nil {
		return KeyPair{}, fakeErr(CodeInvalidKeyFormat, "Key is not in valid OpenSSH public key format")
	}
	typ, fp := "ed25519", ""
	if pub.Type() == ssh.KeyAlgoRSA {
		typ = "rsa"
		der, _ := x509.MarshalPKIXPublicKey(pub.(ssh.CryptoPublicKey).CryptoPublicKey())
		sum := md5.Sum(der)
		fp = colonHex(sum[:])
	} else {
		sum := sha256.Sum256(pub.Marshal())
		fp = base64.StdEncoding.EncodeToString(sum[:])
	}
	return b.addKey(name, typ, publicKey, fp, tags)
}

func (b *fakeBackend) addKey(name, typ, pub, fp string, tags map[string]string) (KeyPair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.keys[name]; ok {
		return KeyPair{}, fakeErr(CodeInvalidKeyPairDuplicate, "The keypair '%s' already exists.", name)
	}
	k := &KeyPair{ID: fakeID("key"), Name: name, Type: typ, Fingerprint: fp, PublicKey: pub, Created: time.Now().UTC(), Tags: copyTags(tags)}
	b.keys[name] = k
	return *k, nil
}

func (b *fakeBackend) KeyPairs(ctx context.Context) ([]KeyPair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []KeyPair
	for _, k := range b.keys {
		x := *k
		x.Tags = copyTags(k.Tags)
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *fakeBackend) keyRef(ref string) *KeyPair {
	if k, ok := b.keys[ref]; ok {
		return k
	}
	for _, k := range b.keys {
		if k.ID == ref {
			return k
		}
	}
	return nil
}

func (b *fakeBackend) DeleteKeyPair(ctx context.Context, ref string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keyRef(ref)
	if k == nil {
		return fakeErr(CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", ref)
	}
	delete(b.keys, k.Name)
	return nil
}

// Security groups.

func (b *fakeBackend) CreateSecurityGroup(ctx context.Context, name, desc string, tags map[string]string) (SecurityGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, g := range b.groups {
		if g.Name == name {
			return SecurityGroup{}, fakeErr(CodeInvalidGroupDuplicate, "The security group '%s' already exists", name)
		}
	}
	g := &SecurityGroup{ID: fakeID("sg"), Name: name, Description: desc, Tags: copyTags(tags), Created: time.Now().UTC()}
	b.groups = append(b.groups, g)
	return copyGroup(g), nil
}

func copyGroup(g *SecurityGroup) SecurityGroup {
	x := *g
	x.Rules = append([]Rule(nil), g.Rules...)
	x.Tags = copyTags(g.Tags)
	return x
}

func (b *fakeBackend) SecurityGroups(ctx context.Context) ([]SecurityGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []SecurityGroup
	for _, g := range b.groups {
		out = append(out, copyGroup(g))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *fakeBackend) groupRef(ref string) (*SecurityGroup, error) {
	for _, g := range b.groups {
		if g.ID == ref || g.Name == ref {
			return g, nil
		}
	}
	return nil, errGroupNotFound(ref)
}

func (b *fakeBackend) DeleteSecurityGroup(ctx context.Context, ref string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	g, err := b.groupRef(ref)
	if err != nil {
		return err
	}
	if g.Name == "default" {
		return fakeErr("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
	}
	for _, inst := range b.instances {
		if inst.State != Terminated && contains(inst.SecurityGroups, g.ID) {
			return fakeErr("DependencyViolation", "resource %s has a dependent object", g.ID)
		}
	}
	for i, x := range b.groups {
		if x == g {
			b.groups = append(b.groups[:i], b.groups[i+1:]...)
			break
		}
	}
	return nil
}

func sameRule(a, b Rule) bool {
	return a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort &&
		fmt.Sprint(a.CIDRs) == fmt.Sprint(b.CIDRs) && fmt.Sprint(a.Groups) == fmt.Sprint(b.Groups)
}

func (b *fakeBackend) AuthorizeIngress(ctx context.Context, ref string, rules []Rule) (SecurityGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g, err := b.groupRef(ref)
	if err != nil {
		return SecurityGroup{}, err
	}
	have := append([]Rule(nil), g.Rules...)
	for _, r := range splitRules(rules) {
		for _, h := range have {
			if sameRule(h, r) {
				return SecurityGroup{}, fakeErr(CodeInvalidPermissionDuplicate, "the specified rule \"peer: %s, %s\" already exists", r.CIDRs, r.Protocol)
			}
		}
		have = append(have, r)
	}
	g.Rules = have
	return copyGroup(g), nil
}

func (b *fakeBackend) RevokeIngress(ctx context.Context, ref string, rules []Rule) (SecurityGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g, err := b.groupRef(ref)
	if err != nil {
		return SecurityGroup{}, err
	}
	have := append([]Rule(nil), g.Rules...)
	for _, r := range splitRules(rules) {
		i := -1
		for j, h := range have {
			if sameRule(h, r) {
				i = j
			}
		}
		if i < 0 {
			return SecurityGroup{}, fakeErr(CodeInvalidPermissionNotFound, "The specified rule does not exist in this security group.")
		}
		have = append(have[:i], have[i+1:]...)
	}
	g.Rules = have
	return copyGroup(g), nil
}

// Images.

func (b *fakeBackend) Images(ctx context.Context) ([]Image, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Image, len(b.images))
	for i, img := range b.images {
		out[i] = img
		out[i].Tags = copyTags(img.Tags)
	}
	return out, nil
}

// Instances.

func (b *fakeBackend) Run(ctx context.Context, o RunOptions) (Instance, []string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runs = append(b.runs, o)
	if b.failRunAt == len(b.runs) {
		return Instance{}, nil, fakeErr(CodeInsufficientCapacity, "Insufficient capacity.")
	}
	typ := o.Type
	if typ == "" {
		typ = "t2.micro"
	}
	found := false
	for _, img := range b.images {
		found = found || img.ID == o.ImageID
	}
	if !found {
		return Instance{}, nil, fakeErr(CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", AMIID(o.ImageID))
	}
	if o.KeyName != "" && b.keyRef(o.KeyName) == nil {
		return Instance{}, nil, fakeErr(CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", o.KeyName)
	}
	refs := o.SecurityGroups
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	var gids []string
	for _, ref := range refs {
		g, err := b.groupRef(ref)
		if err != nil {
			return Instance{}, nil, err
		}
		if !contains(gids, g.ID) {
			gids = append(gids, g.ID)
		}
	}
	ip := netip.AddrFrom4([4]byte{172, 17, 0, byte(b.nextIP)})
	b.nextIP++
	inst := &fakeInstance{Instance: Instance{ID: fakeID("i"), ImageID: o.ImageID, Type: typ, KeyName: o.KeyName,
		SecurityGroups: gids, Tags: copyTags(o.Tags), State: Pending, PrivateIP: ip, PublicIP: ip, Accel: "tcg",
		LaunchTime: time.Now().UTC(), DiskGiB: o.DiskGiB, ReservationID: o.ReservationID, LaunchIndex: o.LaunchIndex,
		ClientToken: o.ClientToken}}
	b.instances = append(b.instances, inst)
	b.console[inst.ID] = []byte("Booting Berth's fake kernel\r\n" + inst.ID + " login: ")
	return inst.Instance, nil, nil
}

// Instances lists the instances; a transitional state listed once has moved on by the next listing.
func (b *fakeBackend) Instances(ctx context.Context) ([]Instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Instance
	for _, inst := range b.instances {
		if inst.seen {
			switch inst.State {
			case Pending:
				inst.State, inst.StateReason = Running, ""
			case Stopping:
				inst.State = Stopped
			case ShuttingDown:
				inst.State, inst.PrivateIP, inst.PublicIP = Terminated, netip.Addr{}, netip.Addr{}
			}
			inst.seen = false
		}
		switch inst.State {
		case Pending, Stopping, ShuttingDown:
			inst.seen = true
		}
		x := inst.Instance
		x.Tags = copyTags(inst.Tags)
		x.SecurityGroups = append([]string(nil), inst.SecurityGroups...)
		out = append(out, x)
	}
	return out, nil
}

func (b *fakeBackend) ref(id string) (*fakeInstance, error) {
	for _, inst := range b.instances {
		if inst.ID == id {
			return inst, nil
		}
	}
	return nil, errInstancesNotFound([]string{id})
}

func (b *fakeBackend) Start(ctx context.Context, id string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, err := b.ref(id)
	if err != nil {
		return nil, err
	}
	switch inst.State {
	case Running, Pending:
		return nil, nil
	case Stopped:
		inst.State, inst.StateReason, inst.seen, inst.LaunchTime = Pending, "", false, time.Now().UTC()
		return nil, nil
	}
	return nil, fakeErr(CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be started.", id)
}

func (b *fakeBackend) Stop(ctx context.Context, id string, force bool, timeout time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, err := b.ref(id)
	if err != nil {
		return err
	}
	switch inst.State {
	case Stopped:
		return nil
	case Running, Pending, Stopping:
		inst.State, inst.seen = Stopping, false
		inst.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
		return nil
	}
	return fakeErr(CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be stopped.", id)
}

func (b *fakeBackend) Reboot(ctx context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, err := b.ref(id)
	if err != nil {
		return err
	}
	if inst.State != Running {
		return fakeErr(CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be rebooted.", id)
	}
	b.console[id] = append(b.console[id], "\r\nreboot: Restarting system\r\n"...)
	return nil
}

func (b *fakeBackend) Terminate(ctx context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, err := b.ref(id)
	if err != nil {
		return err
	}
	if inst.State == Terminated || inst.State == ShuttingDown {
		return nil
	}
	inst.State, inst.seen = ShuttingDown, false
	inst.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
	return nil
}

func (b *fakeBackend) ConsoleOutput(ctx context.Context, id string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.ref(id); err != nil {
		return nil, err
	}
	return append([]byte(nil), b.console[id]...), nil
}

func (b *fakeBackend) InstanceTypes(ctx context.Context) ([]InstanceType, error) {
	return append([]InstanceType(nil), fakeTypes...), nil
}

// Tags.

func (b *fakeBackend) tagsOf(id string) (map[string]string, func(map[string]string), error) {
	for _, inst := range b.instances {
		if inst.ID == id {
			return inst.Tags, func(t map[string]string) { inst.Tags = t }, nil
		}
	}
	for _, g := range b.groups {
		if g.ID == id {
			return g.Tags, func(t map[string]string) { g.Tags = t }, nil
		}
	}
	for _, k := range b.keys {
		if k.ID == id {
			return k.Tags, func(t map[string]string) { k.Tags = t }, nil
		}
	}
	for i := range b.images {
		if AMIID(b.images[i].ID) == id {
			img := &b.images[i]
			return img.Tags, func(t map[string]string) { img.Tags = t }, nil
		}
	}
	return nil, nil, fakeErr(CodeInvalidID, "The ID '%s' is not valid", id)
}

func (b *fakeBackend) CreateTags(ctx context.Context, id string, tags map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, set, err := b.tagsOf(id)
	if err != nil {
		return err
	}
	next := copyTags(cur)
	if next == nil {
		next = map[string]string{}
	}
	for k, v := range tags {
		next[k] = v
	}
	set(next)
	return nil
}

func (b *fakeBackend) DeleteTags(ctx context.Context, id string, keys []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, set, err := b.tagsOf(id)
	if err != nil {
		return err
	}
	next := copyTags(cur)
	for _, k := range keys {
		delete(next, k)
	}
	set(next)
	return nil
}

var _ Backend = (*fakeBackend)(nil)
