package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/client"
	"github.com/berth/berth/internal/vm/instance"
)

// fakeVMs is the VM backend of the route tests: the real instance service for key pairs, security groups and
// types (they need no machine), and instances kept in memory, their calls recorded.
type fakeVMs struct {
	*instance.Service
	mu      sync.Mutex
	insts   map[string]*instance.Instance
	calls   []string
	console string // the console socket ConsoleSocket answers
}

func newFakeVMs(t *testing.T) *fakeVMs {
	dir := t.TempDir()
	svc, err := instance.New(context.Background(), instance.Config{Root: filepath.Join(dir, "vm"), RunRoot: filepath.Join(dir, "run")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &fakeVMs{Service: svc, insts: map[string]*instance.Instance{}}
}

func (f *fakeVMs) call(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeVMs) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeVMs) find(ref string) (*instance.Instance, error) {
	for _, i := range f.insts {
		if i.ID == ref || i.Name == ref {
			return i, nil
		}
	}
	return nil, &instance.Error{Code: instance.CodeInvalidInstanceIDNotFound, Message: fmt.Sprintf("The instance ID '%s' does not exist", ref)}
}

func (f *fakeVMs) List(ctx context.Context, all bool) []instance.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []instance.Instance
	for _, i := range f.insts {
		if all || i.State != instance.Terminated {
			out = append(out, *i)
		}
	}
	return out
}

func (f *fakeVMs) Get(ctx context.Context, ref string) (instance.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(ref)
	if err != nil {
		return instance.Instance{}, notFound(err)
	}
	return *i, nil
}

// notFound puts a fake's error in its category, as the service's errors are.
func notFound(err error) error { return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound) }

func (f *fakeVMs) Run(ctx context.Context, o instance.RunOptions) (instance.Instance, []string, error) {
	f.call("run image=%s name=%s type=%s key=%s keys=%d user=%s groups=%s userdata=%q tags=%v", o.Image, o.Name, o.Type,
		o.KeyName, len(o.PublicKeys), o.User, strings.Join(o.SecurityGroups, ","), o.UserData, o.Tags)
	if o.Image == "missing" {
		return instance.Instance{}, nil, fmt.Errorf("The image id '[missing]' does not exist: %w", errdefs.ErrNotFound)
	}
	def, _ := f.SecurityGroup(ctx, instance.DefaultGroupName)
	i := &instance.Instance{ID: "i-0123456789abcdef0", Name: o.Name, ImageID: "sha256:0123456789abcdef0123", ImageRef: o.Image,
		Type: o.Type, State: instance.Pending, PrivateIP: netip.MustParseAddr("172.17.0.9"), Accel: "tcg",
		SecurityGroups: []string{def.ID}}
	f.mu.Lock()
	f.insts[i.ID] = i
	f.mu.Unlock()
	return *i, []string{"overcommitted"}, nil
}

func (f *fakeVMs) setState(ref string, st instance.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(ref)
	if err != nil {
		return notFound(err)
	}
	i.State = st
	return nil
}

func (f *fakeVMs) Start(ctx context.Context, ref string) ([]string, error) {
	f.call("start %s", ref)
	return nil, f.setState(ref, instance.Running)
}

func (f *fakeVMs) Stop(ctx context.Context, ref string, force bool, timeout time.Duration) error {
	f.call("stop %s force=%v timeout=%s", ref, force, timeout)
	return f.setState(ref, instance.Stopped)
}

func (f *fakeVMs) Reboot(ctx context.Context, ref string) error {
	f.call("reboot %s", ref)
	return nil
}

func (f *fakeVMs) Terminate(ctx context.Context, ref string) error {
	f.call("terminate %s", ref)
	return f.setState(ref, instance.Terminated)
}

func (f *fakeVMs) Wait(ctx context.Context, ref string, st instance.State) (instance.Instance, error) {
	f.call("wait %s %s", ref, st)
	if err := f.setState(ref, st); err != nil {
		return instance.Instance{}, err
	}
	return f.Get(ctx, ref)
}

func (f *fakeVMs) ConsoleOutput(ctx context.Context, ref string) ([]byte, error) {
	if _, err := f.Get(ctx, ref); err != nil {
		return nil, err
	}
	return []byte("[    0.000000] Linux version 6.1.0\nberth-init: started /usr/sbin/dropbear\n"), nil
}

func (f *fakeVMs) ConsoleSocket(ctx context.Context, ref string) (string, error) {
	if _, err := f.Get(ctx, ref); err != nil {
		return "", err
	}
	return f.console, nil
}

func serveVMs(t *testing.T, vms VMBackend) *client.Client {
	t.Helper()
	b := newFakeEngine().backends()
	b.VMs = vms
	srv := httptest.NewServer(New(b))
	t.Cleanup(srv.Close)
	c, err := client.New("tcp://" + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestVMRoutesWithoutVMs(t *testing.T) {
	c := serveVMs(t, nil)
	_, err := c.VMList(context.Background(), false)
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "does not run virtual machines") {
		t.Fatalf("list without a VM backend: %v, want not implemented", err)
	}
}

// An instance's life through Berth's client: what the server passes on, how it answers.
func TestVMLifecycleRoutes(t *testing.T) {
	f := newFakeVMs(t)
	c := serveVMs(t, f)
	ctx := context.Background()

	resp, err := c.VMRun(ctx, vm.RunRequest{Image: "debian-ssh", Name: "web", Type: "t2.small", KeyName: "me",
		PublicKeys: []string{"ssh-ed25519 AAAA"}, User: "admin", SecurityGroups: []string{"web"}, UserData: []byte("#!/bin/sh\n"),
		Tags: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.lastCall(), `run image=debian-ssh name=web type=t2.small key=me keys=1 user=admin groups=web userdata="#!/bin/sh\n" tags=map[env:test]`; got != want {
		t.Errorf("run passed\n%s\nwant\n%s", got, want)
	}
	in := resp.Instance
	if in.ID != "i-0123456789abcdef0" || in.State != "pending" || in.StateCode != 0 || in.PrivateIP != "172.17.0.9" ||
		in.AMI != "ami-0123456789abcdef0" || in.Accel != "tcg" || len(resp.Warnings) != 1 {
		t.Errorf("run answered %+v", resp)
	}
	if len(in.SecurityGroups) != 1 || in.SecurityGroups[0].Name != "default" || !strings.HasPrefix(in.SecurityGroups[0].ID, "sg-") {
		t.Errorf("groups: %+v", in.SecurityGroups)
	}
	if _, err := c.VMRun(ctx, vm.RunRequest{Image: "missing"}); !errdefs.IsNotFound(err) {
		t.Errorf("run of a missing image: %v, want not found", err)
	}

	got, err := c.VMWait(ctx, "web", "running")
	if err != nil || got.State != "running" || got.StateCode != 16 {
		t.Fatalf("wait: %+v, %v", got, err)
	}
	if _, err := c.VMWait(ctx, "web", "rebooting"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("wait for an unknown state: %v", err)
	}
	list, err := c.VMList(ctx, false)
	if err != nil || len(list) != 1 || list[0].Name != "web" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if _, err := c.VMInspect(ctx, "nope"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "The instance ID 'nope' does not exist") {
		t.Errorf("inspect of an unknown instance: %v", err)
	}

	// As `docker rm`, a running instance is removed only with force.
	if err := c.VMRemove(ctx, "web", false); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "stop the VM before removing it or use force") {
		t.Errorf("rm of a running instance: %v, want a conflict", err)
	}
	if err := c.VMStop(ctx, "web", false, 7*time.Second); err != nil || f.lastCall() != "stop web force=false timeout=7s" {
		t.Errorf("stop: %v, passed %q", err, f.lastCall())
	}
	if err := c.VMStop(ctx, "web", true, 0); err != nil || f.lastCall() != "stop web force=true timeout=0s" {
		t.Errorf("stop -f: %v, passed %q", err, f.lastCall())
	}
	if _, err := c.VMStart(ctx, "web"); err != nil || f.lastCall() != "start web" {
		t.Errorf("start: %v, passed %q", err, f.lastCall())
	}
	if err := c.VMRestart(ctx, "web"); err != nil || f.lastCall() != "reboot web" {
		t.Errorf("restart: %v, passed %q", err, f.lastCall())
	}
	out, err := c.VMConsoleOutput(ctx, "web")
	if err != nil || !strings.Contains(string(out), "started /usr/sbin/dropbear") {
		t.Errorf("console output: %q, %v", out, err)
	}
	if err := c.VMRemove(ctx, "web", true); err != nil || f.lastCall() != "terminate i-0123456789abcdef0" {
		t.Errorf("rm -f: %v, passed %q", err, f.lastCall())
	}
	if list, _ := c.VMList(ctx, false); len(list) != 0 {
		t.Errorf("a terminated instance is listed without all: %+v", list)
	}
	if list, _ := c.VMList(ctx, true); len(list) != 1 || list[0].State != "terminated" || list[0].StateCode != 48 {
		t.Errorf("list all: %+v", list)
	}
	types, err := c.VMTypes(ctx)
	if err != nil || len(types) == 0 || types[1] != (vm.InstanceType{Name: "t2.micro", VCPUs: 1, MemoryMiB: 1024, DiskGiB: 8}) {
		t.Errorf("types: %+v, %v", types, err)
	}
}

func TestVMConsoleRoute(t *testing.T) {
	f := newFakeVMs(t)
	f.console = filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", f.console)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // the serial console: answers each line it gets
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		conn.Write([]byte("guest: " + string(buf[:n])))
	}()
	c := serveVMs(t, f)
	ctx := context.Background()
	f.Run(ctx, instance.RunOptions{Image: "img", Name: "web"})
	hr, err := c.VMConsole(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Close()
	hr.Conn.Write([]byte("uname\n"))
	got, err := io.ReadAll(hr.Reader)
	if err != nil || string(got) != "guest: uname\n" {
		t.Errorf("console: %q, %v", got, err)
	}
}

func TestKeyPairRoutes(t *testing.T) {
	c := serveVMs(t, newFakeVMs(t))
	ctx := context.Background()
	tests := []struct {
		name    string
		req     vm.KeyPairRequest
		wantTyp string
		wantPEM string
	}{
		{name: "rsa by default", req: vm.KeyPairRequest{Name: "rsa1"}, wantTyp: "rsa", wantPEM: "RSA PRIVATE KEY"},
		{name: "ed25519", req: vm.KeyPairRequest{Name: "ed1", Type: "ed25519"}, wantTyp: "ed25519", wantPEM: "OPENSSH PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.KeyPairCreate(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode([]byte(resp.PrivateKey))
			if blk == nil || blk.Type != tt.wantPEM {
				t.Fatalf("private key is not a %s PEM: %q", tt.wantPEM, resp.PrivateKey)
			}
			signer, err := ssh.ParsePrivateKey([]byte(resp.PrivateKey))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != resp.KeyPair.PublicKey {
				t.Errorf("public key %q is not the private key's %q", resp.KeyPair.PublicKey, got)
			}
			if resp.KeyPair.Type != tt.wantTyp || !strings.HasPrefix(resp.KeyPair.ID, "key-") || resp.KeyPair.Fingerprint == "" {
				t.Errorf("key pair: %+v", resp.KeyPair)
			}
			// The private key is given once: inspecting shows the public half only.
			k, err := c.KeyPairInspect(ctx, tt.req.Name)
			if err != nil || k.PublicKey != resp.KeyPair.PublicKey {
				t.Errorf("inspect: %+v, %v", k, err)
			}
		})
	}
	if _, err := c.KeyPairCreate(ctx, vm.KeyPairRequest{Name: "rsa1"}); !isConflict(err) || !strings.Contains(fmt.Sprint(err), "The keypair 'rsa1' already exists.") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := c.KeyPairCreate(ctx, vm.KeyPairRequest{Name: "x", Type: "dsa"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown type: %v", err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	imported, err := c.KeyPairCreate(ctx, vm.KeyPairRequest{Name: "mine", PublicKey: string(ssh.MarshalAuthorizedKey(sp)) + " me@laptop"})
	if err != nil || imported.PrivateKey != "" || imported.KeyPair.Type != "ed25519" {
		t.Fatalf("import: %+v, %v", imported, err)
	}
	if _, err := c.KeyPairCreate(ctx, vm.KeyPairRequest{Name: "bad", PublicKey: "not a key"}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "not in valid OpenSSH public key format") {
		t.Errorf("import of garbage: %v", err)
	}
	list, err := c.KeyPairList(ctx)
	if err != nil || len(list) != 3 || list[0].Name != "ed1" || list[1].Name != "mine" || list[2].Name != "rsa1" {
		t.Errorf("list: %+v, %v", list, err)
	}
	if err := c.KeyPairRemove(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if err := c.KeyPairRemove(ctx, "mine"); !errdefs.IsNotFound(err) {
		t.Errorf("second remove: %v", err)
	}
}

// isConflict: the API answers 409 for both conflicts and duplicates, and the client reads 409 as a conflict.
func isConflict(err error) bool { return errdefs.IsConflict(err) || errdefs.IsAlreadyExists(err) }

func TestSecurityGroupRoutes(t *testing.T) {
	c := serveVMs(t, newFakeVMs(t))
	ctx := context.Background()
	g, err := c.SecurityGroupCreate(ctx, vm.GroupRequest{Name: "web", Description: "web servers"})
	if err != nil || !strings.HasPrefix(g.ID, "sg-") || len(g.Rules) != 0 {
		t.Fatalf("create: %+v, %v", g, err)
	}
	tests := []struct {
		name    string
		rules   []vm.Rule
		revoke  bool
		wantErr func(error) bool
		errText string
		want    []string // rules after, as "proto from-to src"
	}{
		{name: "ssh from anywhere", rules: []vm.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}}},
			want: []string{"tcp 22-22 0.0.0.0/0"}},
		{name: "the same rule again", rules: []vm.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}}},
			wantErr: isConflict, errText: "already exists", want: []string{"tcp 22-22 0.0.0.0/0"}},
		{name: "two sources are two rules", rules: []vm.Rule{{Protocol: "6", FromPort: 80, ToPort: 81, CIDRs: []string{"10.0.0.0/8", "192.168.0.1/24"}}},
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 10.0.0.0/8", "tcp 80-81 192.168.0.0/24"}},
		{name: "a group source by name", rules: []vm.Rule{{Protocol: "-1", Groups: []string{"default"}}},
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 10.0.0.0/8", "tcp 80-81 192.168.0.0/24", "-1 -1--1 default"}},
		{name: "an unknown protocol", rules: []vm.Rule{{Protocol: "gre", CIDRs: []string{"0.0.0.0/0"}}},
			wantErr: errdefs.IsInvalidArgument, errText: "Unknown protocol",
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 10.0.0.0/8", "tcp 80-81 192.168.0.0/24", "-1 -1--1 default"}},
		{name: "a malformed cidr", rules: []vm.Rule{{Protocol: "tcp", FromPort: 1, ToPort: 1, CIDRs: []string{"10.0.0.300/8"}}},
			wantErr: errdefs.IsInvalidArgument, errText: "malformed",
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 10.0.0.0/8", "tcp 80-81 192.168.0.0/24", "-1 -1--1 default"}},
		{name: "revoke one source", revoke: true, rules: []vm.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 81, CIDRs: []string{"10.0.0.0/8"}}},
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 192.168.0.0/24", "-1 -1--1 default"}},
		{name: "revoke what is not there", revoke: true, rules: []vm.Rule{{Protocol: "udp", FromPort: 53, ToPort: 53, CIDRs: []string{"0.0.0.0/0"}}},
			wantErr: errdefs.IsNotFound, errText: "does not exist",
			want: []string{"tcp 22-22 0.0.0.0/0", "tcp 80-81 192.168.0.0/24", "-1 -1--1 default"}},
	}
	def, err := c.SecurityGroupInspect(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply := c.SecurityGroupAuthorize
			if tt.revoke {
				apply = c.SecurityGroupRevoke
			}
			_, err := apply(ctx, "web", tt.rules)
			if tt.wantErr != nil {
				if !tt.wantErr(err) || !strings.Contains(fmt.Sprint(err), tt.errText) {
					t.Errorf("err = %v, want %q", err, tt.errText)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got, err := c.SecurityGroupInspect(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, r := range got.Rules {
				src := append(append([]string{}, r.CIDRs...), r.Groups...)
				for i, s := range src {
					if s == def.ID {
						src[i] = "default"
					}
				}
				rules = append(rules, fmt.Sprintf("%s %d-%d %s", r.Protocol, r.FromPort, r.ToPort, strings.Join(src, ",")))
			}
			if strings.Join(rules, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("rules:\n%s\nwant\n%s", strings.Join(rules, "; "), strings.Join(tt.want, "; "))
			}
		})
	}
	if _, err := c.SecurityGroupCreate(ctx, vm.GroupRequest{Name: "web"}); !isConflict(err) {
		t.Errorf("duplicate group: %v", err)
	}
	if _, err := c.SecurityGroupCreate(ctx, vm.GroupRequest{Name: "sg-1"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a name like an ID: %v", err)
	}
	if err := c.SecurityGroupRemove(ctx, "default"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("removing the default group: %v", err)
	}
	// A group another group's rule names cannot go: the rule would point at nothing.
	if _, err := c.SecurityGroupAuthorize(ctx, "default", []vm.Rule{{Protocol: "tcp", FromPort: 1, ToPort: 1, Groups: []string{"web"}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SecurityGroupRemove(ctx, "web"); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "dependent object") {
		t.Errorf("removing a group another group names: %v", err)
	}
	if _, err := c.SecurityGroupRevoke(ctx, "default", []vm.Rule{{Protocol: "tcp", FromPort: 1, ToPort: 1, Groups: []string{g.ID}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SecurityGroupRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SecurityGroupInspect(ctx, "web"); !errdefs.IsNotFound(err) {
		t.Errorf("inspect after remove: %v", err)
	}
}
