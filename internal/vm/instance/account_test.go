package instance

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/vm/secgroup"
)

// fakeImages is one image, found by its name or any prefix of its ID (as the engine resolves short IDs).
type fakeImages struct{}

const fakeImageID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func (fakeImages) Resolve(ctx context.Context, ref string) (Image, error) {
	if ref == "debian-ssh" || (len(ref) > len("sha256:")+4 && strings.HasPrefix(fakeImageID, ref)) {
		return Image{ID: fakeImageID}, nil
	}
	return Image{}, errdefs.ErrNotFound
}

func (fakeImages) List(ctx context.Context) ([]Image, error) {
	return []Image{{ID: fakeImageID, Names: []string{"debian-ssh:latest"}}}, nil
}

func (fakeImages) RootFS(ctx context.Context, id string) (string, func(), error) {
	return "", nil, errors.New("no files in this test")
}

func newTestService(t *testing.T, root string) *Service {
	t.Helper()
	s, err := New(context.Background(), Config{Root: filepath.Join(root, "vm"), RunRoot: filepath.Join(root, "run")}, fakeImages{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if CodeOf(err) != code {
		t.Errorf("%s: %v (%s), want %s", what, err, CodeOf(err), code)
	}
}

func keyNames(list []KeyPair) []string {
	var out []string
	for _, k := range list {
		out = append(out, k.Owner+"/"+k.Name)
	}
	return out
}

func groupNames(list []SecurityGroup) []string {
	var out []string
	for _, g := range list {
		out = append(out, g.Owner+"/"+g.Name)
	}
	return out
}

// Each account sees, names and uses only its own key pairs, groups and instances, under names unique in it, with
// a default group of its own; Berth's own API (no account) sees everything and says whose each is.
func TestAccounts(t *testing.T) {
	s := newTestService(t, t.TempDir())
	local := context.Background()
	a, b := WithAccount(local, "111111111111"), WithAccount(local, "222222222222")

	// Key pairs: one name in two accounts; a duplicate only within one.
	ka, _, err := s.CreateKeyPair(a, "k", KeyED25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	kb, _, err := s.CreateKeyPair(b, "k", KeyED25519, nil)
	if err != nil {
		t.Fatalf("the same key pair name in another account: %v", err)
	}
	_, _, err = s.CreateKeyPair(a, "k", KeyRSA, nil)
	wantCode(t, "a duplicate key pair in one account", err, CodeInvalidKeyPairDuplicate)
	if got := keyNames(s.KeyPairs(a)); !reflect.DeepEqual(got, []string{"111111111111/k"}) {
		t.Errorf("account a lists key pairs %q", got)
	}
	if got := keyNames(s.KeyPairs(local)); !reflect.DeepEqual(got, []string{"111111111111/k", "222222222222/k"}) {
		t.Errorf("Berth's API lists key pairs %q", got)
	}
	_, err = s.KeyPair(a, kb.ID)
	wantCode(t, "account a naming b's key pair by ID", err, CodeInvalidKeyPairNotFound)
	wantCode(t, "account a deleting b's key pair", s.DeleteKeyPair(a, kb.ID), CodeInvalidKeyPairNotFound)
	_, err = s.KeyPair(local, "k")
	wantCode(t, "Berth's API naming a key pair two accounts have", err, CodeInvalidParameterValue)
	if k, err := s.KeyPair(local, kb.ID); err != nil || k.Owner != "222222222222" {
		t.Errorf("Berth's API finds any key pair by ID: %+v, %v", k, err)
	}
	if _, _, err := s.CreateKeyPair(local, "k", KeyED25519, nil); err != nil {
		t.Fatal(err)
	}
	if k, err := s.KeyPair(local, "k"); err != nil || k.Owner != "" {
		t.Errorf("Berth's API prefers its own key pair of a name: %+v, %v", k, err)
	}

	// Security groups: each account's default group is its own, made when first needed.
	ga := s.SecurityGroups(a)
	gb := s.SecurityGroups(b)
	if len(ga) != 1 || len(gb) != 1 || ga[0].Name != DefaultGroupName || ga[0].Owner != "111111111111" || ga[0].ID == gb[0].ID {
		t.Fatalf("default groups: a %+v, b %+v", ga, gb)
	}
	if r := ga[0].Rules; len(r) != 1 || !reflect.DeepEqual(r[0].Groups, []string{ga[0].ID}) {
		t.Errorf("a's default group admits its own members only: %+v", r)
	}
	webA, err := s.CreateSecurityGroup(a, "web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	webB, err := s.CreateSecurityGroup(b, "web", "", nil)
	if err != nil {
		t.Fatalf("the same group name in another account: %v", err)
	}
	_, err = s.CreateSecurityGroup(a, "web", "", nil)
	wantCode(t, "a duplicate group in one account", err, CodeInvalidGroupDuplicate)
	if got := groupNames(s.SecurityGroups(local)); !reflect.DeepEqual(got, []string{"/default", "111111111111/default", "222222222222/default", "111111111111/web", "222222222222/web"}) {
		t.Errorf("Berth's API lists groups %q", got)
	}
	_, err = s.SecurityGroup(a, webB.ID)
	wantCode(t, "account a naming b's group", err, CodeInvalidGroupNotFound)
	wantCode(t, "account a deleting b's group", s.DeleteSecurityGroup(a, webB.ID), CodeInvalidGroupNotFound)
	_, err = s.AuthorizeIngress(a, "web", []secgroup.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, Groups: []string{webB.ID}}})
	wantCode(t, "a rule of a's naming b's group", err, CodeInvalidGroupNotFound)
	if g, err := s.AuthorizeIngress(a, "web", []secgroup.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}); err != nil || g.ID != webA.ID {
		t.Errorf("a authorizes its web group by name: %+v, %v", g, err)
	}
	if g, _ := s.SecurityGroup(b, "web"); len(g.Rules) != 0 {
		t.Errorf("b's web group got a's rule: %+v", g.Rules)
	}

	// Instances: launched with the account's key pair and default group, seen by it and by Berth's API only.
	ia, _, err := s.admit(a, RunOptions{Image: "debian-ssh", KeyName: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if ia.Owner != "111111111111" || ia.KeyName != "k" || !reflect.DeepEqual(ia.AuthorizedKeys, []string{ka.PublicKey}) || !reflect.DeepEqual(ia.SecurityGroups, []string{ga[0].ID}) {
		t.Errorf("a's instance: %+v", ia)
	}
	_, _, err = s.admit(a, RunOptions{Image: "debian-ssh", SecurityGroups: []string{webB.ID}})
	wantCode(t, "a launching into b's group", err, CodeInvalidGroupNotFound)
	_, _, err = s.admit(b, RunOptions{Image: "debian-ssh", KeyName: ka.ID})
	wantCode(t, "b launching with a's key pair", err, CodeInvalidKeyPairNotFound)
	if got := s.List(b, true); len(got) != 0 {
		t.Errorf("b lists a's instances: %+v", got)
	}
	if got := s.List(local, true); len(got) != 1 || got[0].ID != ia.ID {
		t.Errorf("Berth's API lists %+v", got)
	}
	for name, err := range map[string]error{
		"get":       func() error { _, err := s.Get(b, ia.ID); return err }(),
		"stop":      s.Stop(b, ia.ID, true, 0),
		"terminate": s.Terminate(b, ia.ID),
		"tag":       s.CreateTags(b, ia.ID, map[string]string{"x": "y"}),
	} {
		wantCode(t, "b's "+name+" of a's instance", err, CodeInvalidInstanceIDNotFound)
	}
	if _, _, err := s.admit(a, RunOptions{Image: "debian-ssh", SecurityGroups: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a deleting its group an instance is in", s.DeleteSecurityGroup(a, "web"), CodeDependencyViolation)
}

// The launch request an instance came from (its reservation, launch index and client token) and its owner are
// kept with it, across a restart of the service.
func TestLaunchRecordKept(t *testing.T) {
	root := t.TempDir()
	s := newTestService(t, root)
	a := WithAccount(context.Background(), "111111111111")
	var ids []string
	for i := 0; i < 2; i++ {
		inst, _, err := s.admit(a, RunOptions{Image: "ami-0123456789abcdef0", Type: "t2.nano", ReservationID: "r-0123456789abcdef0",
			LaunchIndex: i, ClientToken: "token-1", Tags: map[string]string{"Name": "web"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inst.ID)
	}
	s.Close()

	s2 := newTestService(t, root)
	got := s2.List(a, true)
	if len(got) != 2 {
		t.Fatalf("after a restart: %+v", got)
	}
	for i, inst := range got {
		if inst.ID != ids[i] || inst.ReservationID != "r-0123456789abcdef0" || inst.LaunchIndex != i || inst.ClientToken != "token-1" ||
			inst.Owner != "111111111111" || inst.ImageID != fakeImageID || inst.Tags["Name"] != "web" {
			t.Errorf("instance %d after a restart: %+v", i, inst)
		}
	}
}

// Tags are set, changed and removed on instances, key pairs, groups and images, by ID, in the caller's
// account only, and kept across a restart.
func TestTags(t *testing.T) {
	root := t.TempDir()
	s := newTestService(t, root)
	a, b := WithAccount(context.Background(), "111111111111"), WithAccount(context.Background(), "222222222222")
	inst, _, err := s.admit(a, RunOptions{Image: "debian-ssh"})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := s.CreateKeyPair(a, "k", KeyED25519, map[string]string{"team": "ops"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateSecurityGroup(a, "web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ami := AMIID(fakeImageID)
	tagsOf := func(s *Service, ctx context.Context, id string) map[string]string {
		t.Helper()
		switch {
		case strings.HasPrefix(id, "i-"):
			i, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return i.Tags
		case strings.HasPrefix(id, "key-"):
			k, err := s.KeyPair(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return k.Tags
		case strings.HasPrefix(id, "sg-"):
			g, err := s.SecurityGroup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return g.Tags
		}
		imgs, err := s.Images(ctx)
		if err != nil || len(imgs) != 1 || AMIID(imgs[0].ID) != id {
			t.Fatalf("images: %+v, %v", imgs, err)
		}
		return imgs[0].Tags
	}
	tests := []struct {
		name       string
		id         string
		before     map[string]string
		notFoundIn string // b's error for it
	}{
		{name: "instance", id: inst.ID, notFoundIn: CodeInvalidInstanceIDNotFound},
		{name: "key pair", id: k.ID, before: map[string]string{"team": "ops"}, notFoundIn: CodeInvalidKeyPairNotFound},
		{name: "security group", id: g.ID, notFoundIn: CodeInvalidGroupNotFound},
		{name: "image", id: ami},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateTags(a, tt.id, map[string]string{"env": "dev", "owner": ""}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTags(a, tt.id, map[string]string{"env": "prod"}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"env": "prod", "owner": ""}
			for k, v := range tt.before {
				want[k] = v
			}
			if got := tagsOf(s, a, tt.id); !reflect.DeepEqual(got, want) {
				t.Errorf("after create-tags: %v, want %v", got, want)
			}
			if err := s.DeleteTags(a, tt.id, []string{"owner", "absent"}); err != nil {
				t.Fatal(err)
			}
			delete(want, "owner")
			if got := tagsOf(s, a, tt.id); !reflect.DeepEqual(got, want) {
				t.Errorf("after delete-tags: %v, want %v", got, want)
			}
			if tt.notFoundIn != "" {
				wantCode(t, "b tagging a's resource", s.CreateTags(b, tt.id, map[string]string{"x": "y"}), tt.notFoundIn)
			} else if got := s.ImageTags(b)[tt.id]; got != nil {
				t.Errorf("b sees a's image tags: %v", got)
			}
		})
	}
	wantCode(t, "tagging an unknown image", s.CreateTags(a, "ami-fedcba9876543210f", map[string]string{"x": "y"}), CodeInvalidAMIIDNotFound)
	wantCode(t, "tagging an unknown group", s.CreateTags(a, "sg-0123456789abcdef0", map[string]string{"x": "y"}), CodeInvalidGroupNotFound)
	s.Close()

	s2 := newTestService(t, root)
	for _, tt := range tests {
		if got := tagsOf(s2, a, tt.id); got["env"] != "prod" {
			t.Errorf("%s after a restart: %v", tt.name, got)
		}
	}
	if err := s2.DeleteTags(a, ami, []string{"env"}); err != nil {
		t.Fatal(err)
	}
	if got := s2.ImageTags(a); len(got) != 0 {
		t.Errorf("image tags after deleting the last: %v", got)
	}
}

func TestScopePick(t *testing.T) {
	tests := []struct {
		name    string
		sc      scope
		owners  []string
		want    int
		wantErr bool
	}{
		{name: "none", sc: scope{all: true}, want: -1},
		{name: "one", sc: scope{owner: "1"}, owners: []string{"1"}, want: 0},
		{name: "several, one of no account", sc: scope{all: true}, owners: []string{"1", "", "2"}, want: 1},
		{name: "several accounts'", sc: scope{all: true}, owners: []string{"2", "1"}, want: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sc.pick("key pair", "k", tt.owners)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("pick = %d, %v", got, err)
			}
			if err != nil && !strings.Contains(err.Error(), "used by accounts 1, 2") {
				t.Errorf("message %q", err)
			}
		})
	}
}
