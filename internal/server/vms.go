package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/internal/vm/instance"
	"github.com/berth/berth/internal/vm/secgroup"
)

// VMBackend is Berth's own virtual machine API (not Docker's): instances, key pairs, security groups and
// instance types, served under /berth/.
type VMBackend interface {
	List(ctx context.Context, all bool) []instance.Instance
	Get(ctx context.Context, ref string) (instance.Instance, error)
	Run(ctx context.Context, o instance.RunOptions) (instance.Instance, []string, error)
	Start(ctx context.Context, ref string) ([]string, error)
	Stop(ctx context.Context, ref string, force bool, timeout time.Duration) error
	Reboot(ctx context.Context, ref string) error
	Terminate(ctx context.Context, ref string) error
	Wait(ctx context.Context, ref string, state instance.State) (instance.Instance, error)
	ConsoleOutput(ctx context.Context, ref string) ([]byte, error)
	ConsoleSocket(ctx context.Context, ref string) (string, error)
	Types() []instance.Type

	CreateKeyPair(ctx context.Context, name, typ string, tags map[string]string) (instance.KeyPair, []byte, error)
	ImportKeyPair(ctx context.Context, name, publicKey string, tags map[string]string) (instance.KeyPair, error)
	KeyPairs(ctx context.Context) []instance.KeyPair
	KeyPair(ctx context.Context, ref string) (instance.KeyPair, error)
	DeleteKeyPair(ctx context.Context, ref string) error

	CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (instance.SecurityGroup, error)
	SecurityGroups(ctx context.Context) []instance.SecurityGroup
	SecurityGroup(ctx context.Context, ref string) (instance.SecurityGroup, error)
	DeleteSecurityGroup(ctx context.Context, ref string) error
	AuthorizeIngress(ctx context.Context, ref string, rules []secgroup.Rule) (instance.SecurityGroup, error)
	RevokeIngress(ctx context.Context, ref string, rules []secgroup.Rule) (instance.SecurityGroup, error)
}

func (s *Server) vmRoutes() {
	m := s.mux
	m.HandleFunc("GET /berth/vms", s.vm(s.vmList))
	m.HandleFunc("POST /berth/vms", s.vm(s.vmRun))
	m.HandleFunc("GET /berth/vms/{id}", s.vm(s.vmInspect))
	m.HandleFunc("POST /berth/vms/{id}/start", s.vm(s.vmStart))
	m.HandleFunc("POST /berth/vms/{id}/stop", s.vm(s.vmStop))
	m.HandleFunc("POST /berth/vms/{id}/restart", s.vm(func(w http.ResponseWriter, r *http.Request) {
		writeErrorOr(w, s.b.VMs.Reboot(r.Context(), r.PathValue("id")), http.StatusNoContent)
	}))
	m.HandleFunc("DELETE /berth/vms/{id}", s.vm(s.vmRemove))
	m.HandleFunc("POST /berth/vms/{id}/wait", s.vm(s.vmWait))
	m.HandleFunc("GET /berth/vms/{id}/console-output", s.vm(s.vmConsoleOutput))
	m.HandleFunc("POST /berth/vms/{id}/console", s.vm(s.vmConsole))
	m.HandleFunc("GET /berth/vm-types", s.vm(s.vmTypes))

	m.HandleFunc("GET /berth/keypairs", s.vm(func(w http.ResponseWriter, r *http.Request) {
		out := []vm.KeyPair{}
		for _, k := range s.b.VMs.KeyPairs(r.Context()) {
			out = append(out, keyPairOut(k))
		}
		writeJSON(w, http.StatusOK, out)
	}))
	m.HandleFunc("POST /berth/keypairs", s.vm(s.keyPairCreate))
	m.HandleFunc("GET /berth/keypairs/{name}", s.vm(func(w http.ResponseWriter, r *http.Request) {
		k, err := s.b.VMs.KeyPair(r.Context(), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, keyPairOut(k))
	}))
	m.HandleFunc("DELETE /berth/keypairs/{name}", s.vm(func(w http.ResponseWriter, r *http.Request) {
		writeErrorOr(w, s.b.VMs.DeleteKeyPair(r.Context(), r.PathValue("name")), http.StatusNoContent)
	}))

	m.HandleFunc("GET /berth/security-groups", s.vm(func(w http.ResponseWriter, r *http.Request) {
		insts := s.b.VMs.List(r.Context(), false)
		out := []vm.SecurityGroup{}
		for _, g := range s.b.VMs.SecurityGroups(r.Context()) {
			out = append(out, groupOut(g, insts))
		}
		writeJSON(w, http.StatusOK, out)
	}))
	m.HandleFunc("POST /berth/security-groups", s.vm(s.groupCreate))
	m.HandleFunc("GET /berth/security-groups/{id}", s.vm(func(w http.ResponseWriter, r *http.Request) {
		g, err := s.b.VMs.SecurityGroup(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, groupOut(g, s.b.VMs.List(r.Context(), false)))
	}))
	m.HandleFunc("DELETE /berth/security-groups/{id}", s.vm(func(w http.ResponseWriter, r *http.Request) {
		writeErrorOr(w, s.b.VMs.DeleteSecurityGroup(r.Context(), r.PathValue("id")), http.StatusNoContent)
	}))
	m.HandleFunc("POST /berth/security-groups/{id}/authorize", s.vm(s.groupRules(func(ctx context.Context, ref string, rules []secgroup.Rule) (instance.SecurityGroup, error) {
		return s.b.VMs.AuthorizeIngress(ctx, ref, rules)
	})))
	m.HandleFunc("POST /berth/security-groups/{id}/revoke", s.vm(s.groupRules(func(ctx context.Context, ref string, rules []secgroup.Rule) (instance.SecurityGroup, error) {
		return s.b.VMs.RevokeIngress(ctx, ref, rules)
	})))
}

// vm guards the VM routes: a daemon without virtual machines answers 501.
func (s *Server) vm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.b.VMs == nil {
			writeError(w, errdefs.ErrNotImplemented.WithMessage("this daemon does not run virtual machines (berth-vm is not installed next to berthd)"))
			return
		}
		h(w, r)
	}
}

func writeErrorOr(w http.ResponseWriter, err error, code int) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(code)
}

func (s *Server) vmList(w http.ResponseWriter, r *http.Request) {
	groups := s.groupNames(r.Context())
	out := []vm.Instance{}
	for _, i := range s.b.VMs.List(r.Context(), boolValue(r, "all")) {
		out = append(out, instanceOut(i, groups))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) groupNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	for _, g := range s.b.VMs.SecurityGroups(ctx) {
		names[g.ID] = g.Name
	}
	return names
}

func (s *Server) vmRun(w http.ResponseWriter, r *http.Request) {
	var req vm.RunRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	inst, warnings, err := s.b.VMs.Run(r.Context(), instance.RunOptions{Image: req.Image, Name: req.Name, Type: req.Type,
		KeyName: req.KeyName, PublicKeys: req.PublicKeys, User: req.User, SecurityGroups: req.SecurityGroups,
		UserData: req.UserData, Tags: req.Tags, Network: req.Network, DiskGiB: req.DiskGiB})
	if err != nil {
		writeError(w, err)
		return
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, vm.RunResponse{Instance: instanceOut(inst, s.groupNames(r.Context())), Warnings: warnings})
}

func (s *Server) vmInspect(w http.ResponseWriter, r *http.Request) {
	inst, err := s.b.VMs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, instanceOut(inst, s.groupNames(r.Context())))
}

func (s *Server) vmStart(w http.ResponseWriter, r *http.Request) {
	warnings, err := s.b.VMs.Start(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusOK, vm.StartResponse{Warnings: warnings})
}

func (s *Server) vmStop(w http.ResponseWriter, r *http.Request) {
	var timeout time.Duration
	if t := r.URL.Query().Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for t: %q", t)))
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	writeErrorOr(w, s.b.VMs.Stop(r.Context(), r.PathValue("id"), boolValue(r, "force"), timeout), http.StatusNoContent)
}

// vmRemove terminates an instance; as `docker rm`, a running one only with force.
func (s *Server) vmRemove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	inst, err := s.b.VMs.Get(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !boolValue(r, "force") && (inst.State == instance.Running || inst.State == instance.Pending || inst.State == instance.Stopping) {
		writeError(w, errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot remove VM %s: it is %s: stop the VM before removing it or use force", inst.ID, inst.State)))
		return
	}
	writeErrorOr(w, s.b.VMs.Terminate(ctx, inst.ID), http.StatusNoContent)
}

func (s *Server) vmWait(w http.ResponseWriter, r *http.Request) {
	state := instance.State(r.URL.Query().Get("state"))
	switch state {
	case instance.Running, instance.Stopped, instance.Terminated:
	default:
		writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid state %q: running, stopped or terminated", state)))
		return
	}
	inst, err := s.b.VMs.Wait(r.Context(), r.PathValue("id"), state)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, instanceOut(inst, s.groupNames(r.Context())))
}

func (s *Server) vmConsoleOutput(w http.ResponseWriter, r *http.Request) {
	out, err := s.b.VMs.ConsoleOutput(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(out)
}

// vmConsole joins the client's hijacked connection to the instance's serial console.
func (s *Server) vmConsole(w http.ResponseWriter, r *http.Request) {
	path, err := s.b.VMs.ConsoleSocket(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		writeError(w, fmt.Errorf("console of %s: %w: %w", r.PathValue("id"), err, errdefs.ErrUnavailable))
		return
	}
	defer c.Close()
	h, err := hijack(w, r, "application/vnd.docker.raw-stream")
	if err != nil {
		return
	}
	defer h.conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(c, h)
		if uc, ok := c.(*net.UnixConn); ok {
			uc.CloseWrite()
		}
	}()
	io.Copy(h.conn, c)
	h.conn.Close()
	wg.Wait()
}

func (s *Server) vmTypes(w http.ResponseWriter, r *http.Request) {
	out := []vm.InstanceType{}
	for _, t := range s.b.VMs.Types() {
		out = append(out, vm.InstanceType{Name: t.Name, VCPUs: t.VCPUs, MemoryMiB: t.MemoryMiB, DiskGiB: t.DiskGiB})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) keyPairCreate(w http.ResponseWriter, r *http.Request) {
	var req vm.KeyPairRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	var out vm.KeyPairResponse
	if req.PublicKey != "" {
		k, err := s.b.VMs.ImportKeyPair(r.Context(), req.Name, req.PublicKey, req.Tags)
		if err != nil {
			writeError(w, err)
			return
		}
		out.KeyPair = keyPairOut(k)
	} else {
		k, priv, err := s.b.VMs.CreateKeyPair(r.Context(), req.Name, req.Type, req.Tags)
		if err != nil {
			writeError(w, err)
			return
		}
		out.KeyPair, out.PrivateKey = keyPairOut(k), string(priv)
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) groupCreate(w http.ResponseWriter, r *http.Request) {
	var req vm.GroupRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	g, err := s.b.VMs.CreateSecurityGroup(r.Context(), req.Name, req.Description, req.Tags)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, groupOut(g, nil))
}

func (s *Server) groupRules(apply func(context.Context, string, []secgroup.Rule) (instance.SecurityGroup, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req vm.RulesRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		var rules []secgroup.Rule
		for _, in := range req.Rules {
			sr := secgroup.Rule{Protocol: in.Protocol, FromPort: in.FromPort, ToPort: in.ToPort, Groups: in.Groups, Description: in.Description}
			for _, c := range in.CIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("CIDR block %s is malformed", c)))
					return
				}
				sr.CIDRs = append(sr.CIDRs, p)
			}
			rules = append(rules, sr)
		}
		g, err := apply(r.Context(), r.PathValue("id"), rules)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, groupOut(g, s.b.VMs.List(r.Context(), false)))
	}
}

func instanceOut(i instance.Instance, groups map[string]string) vm.Instance {
	out := vm.Instance{ID: i.ID, Owner: i.Owner, Name: i.Name, Image: i.ImageRef, ImageID: i.ImageID, AMI: instance.AMIID(i.ImageID),
		Type: i.Type, VCPUs: i.VCPUs, MemoryMiB: i.MemoryMiB, DiskGiB: i.DiskGiB, KeyName: i.KeyName, User: i.User,
		SecurityGroups: []vm.GroupRef{}, Tags: i.Tags, State: string(i.State), StateCode: i.State.Code(),
		StateReason: i.StateReason, Network: i.Network, MAC: i.MAC, Accel: i.Accel, AccelReason: i.AccelReason,
		KernelRelease: i.KernelRelease, LaunchTime: i.LaunchTime, Created: i.Created, Pid: i.Pid}
	if i.PrivateIP.IsValid() {
		out.PrivateIP = i.PrivateIP.String()
	}
	for _, id := range i.SecurityGroups {
		out.SecurityGroups = append(out.SecurityGroups, vm.GroupRef{ID: id, Name: groups[id]})
	}
	return out
}

func keyPairOut(k instance.KeyPair) vm.KeyPair {
	return vm.KeyPair{ID: k.ID, Owner: k.Owner, Name: k.Name, Type: k.Type, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, Created: k.Created, Tags: k.Tags}
}

func groupOut(g instance.SecurityGroup, insts []instance.Instance) vm.SecurityGroup {
	out := vm.SecurityGroup{ID: g.ID, Owner: g.Owner, Name: g.Name, Description: g.Description, Rules: []vm.Rule{}, Tags: g.Tags,
		Created: g.Created, Instances: []string{}}
	for _, r := range g.Rules {
		vr := vm.Rule{Protocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort, Groups: r.Groups, Description: r.Description}
		for _, c := range r.CIDRs {
			vr.CIDRs = append(vr.CIDRs, c.String())
		}
		out.Rules = append(out.Rules, vr)
	}
	for _, i := range insts {
		for _, id := range i.SecurityGroups {
			if id == g.ID {
				out.Instances = append(out.Instances, i.ID)
			}
		}
	}
	return out
}
