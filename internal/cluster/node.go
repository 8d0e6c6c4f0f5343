package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

// InitRequest is swarm init's, in Berth's terms.
type InitRequest struct {
	ListenAddr, AdvertiseAddr string
	DataPathAddr              string
	DataPathPort              uint32
	ForceNewCluster           bool
	Spec                      api.ClusterSpec
	AutoLockManagers          bool
	Availability              api.NodeAvailability
	DefaultAddrPool           []netip.Prefix
	SubnetSize                uint32
}

// JoinRequest is swarm join's.
type JoinRequest struct {
	ListenAddr, AdvertiseAddr, DataPathAddr string
	RemoteAddrs                             []string
	JoinToken                               string
	Availability                            api.NodeAvailability
}

// resolveAddrs settles the listen and advertise addresses as docker does: the listen address defaults to
// 0.0.0.0:2377, the advertise address to the listen host when it is specific, else to the host's one address;
// an interface name stands for its address.
func resolveAddrs(listen, advertise string) (listenAddr, advertiseAddr string, err error) {
	if listen == "" {
		listen = "0.0.0.0:2377"
	}
	lhost, lport, err := splitAddr(listen)
	if err != nil {
		return "", "", invalid("invalid ListenAddr %q: %v", listen, err)
	}
	if ip, err := interfaceAddr(lhost); err == nil {
		lhost = ip
	} else if lhost != "" && net.ParseIP(lhost) == nil {
		return "", "", invalid("invalid ListenAddr %q: %v", listen, err)
	}
	if lhost == "" {
		lhost = "0.0.0.0"
	}
	listenAddr = joinHostPort(lhost, lport)
	if advertise == "" {
		if ip := net.ParseIP(lhost); ip != nil && !ip.IsUnspecified() {
			return listenAddr, joinHostPort(lhost, lport), nil
		}
		ip, err := systemAddr()
		if err != nil {
			return "", "", err
		}
		return listenAddr, joinHostPort(ip, lport), nil
	}
	ahost, aport, err := splitAddr(advertise)
	if err != nil {
		return "", "", invalid("invalid AdvertiseAddr %q: %v", advertise, err)
	}
	if !strings.Contains(advertise, ":") || strings.HasSuffix(advertise, "]") {
		aport = lport // a bare advertise host takes the listen port
	}
	if ip, err := interfaceAddr(ahost); err == nil {
		ahost = ip
	} else if net.ParseIP(ahost) == nil {
		return "", "", invalid("advertise address must be a non-zero IP address or network interface (with optional port number)")
	}
	if ip := net.ParseIP(ahost); ip.IsUnspecified() {
		return "", "", invalid("advertise address must be a non-zero IP address or network interface (with optional port number)")
	}
	return listenAddr, joinHostPort(ahost, aport), nil
}

// interfaceAddr is the address of the network interface named name.
func interfaceAddr(name string) (string, error) {
	if name == "" || net.ParseIP(name) != nil {
		return "", errors.New("not an interface")
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("no such interface: %s", name)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String(), nil
		}
	}
	return "", invalid("interface %s has no usable IPv4 address", name)
}

// errBadDataPathAddr is dockerd's answer to a --data-path-addr that is neither an address nor an interface.
var errBadDataPathAddr = errdefs.ErrInvalidArgument.WithMessage("data path address must be a non-zero IP address or network interface (without a port number)")

// resolveDataPathAddr settles --data-path-addr as dockerd does: an interface name stands for its address, else
// a specific IP address; "" stays "" (the advertise address carries the data path).
func resolveDataPathAddr(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if ip, err := interfaceAddr(s); err == nil {
		return ip, nil
	} else if !strings.HasPrefix(err.Error(), "no such interface") && err.Error() != "not an interface" {
		return "", err
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() && !ip.IsUnspecified() {
		return ip.String(), nil
	}
	return "", errBadDataPathAddr
}

// systemAddr is the host's one global unicast IPv4 address, with docker's words when there is none or several.
func systemAddr() (string, error) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	type found struct{ ip, ifc string }
	var all []found
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "berth") || strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "veth") || strings.HasPrefix(ifc.Name, "gwbr") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				all = append(all, found{ipn.IP.String(), ifc.Name})
			}
		}
	}
	switch {
	case len(all) == 0:
		return "", invalid("could not find the system's IP address - specify one with --advertise-addr")
	case len(all) > 1 && all[0].ifc == all[1].ifc:
		return "", invalid("could not choose an IP address to advertise since this system has multiple addresses on interface %s (%s and %s) - specify one with --advertise-addr", all[0].ifc, all[0].ip, all[1].ip)
	case len(all) > 1:
		return "", invalid("could not choose an IP address to advertise since this system has multiple addresses on different interfaces (%s on %s and %s on %s) - specify one with --advertise-addr", all[0].ip, all[0].ifc, all[1].ip, all[1].ifc)
	}
	return all[0].ip, nil
}

// Init makes a new swarm with this node as its first manager, and returns the node's ID.
func (c *Cluster) Init(ctx context.Context, req InitRequest) (string, error) {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	// On a node in no swarm, --force-new-cluster is a plain init, as docker's.
	if s, _ := c.State(); s != StateInactive {
		if !req.ForceNewCluster {
			return "", ErrSwarmExists
		}
		if s == StateLocked {
			return "", invalid("this node is locked: unlock it or leave the swarm with --force before starting a new cluster")
		}
		return c.forceNewCluster(ctx, req)
	}
	if req.Spec.Name == "" {
		req.Spec.Name = api.ClusterName
	}
	if req.Spec.Name != api.ClusterName {
		return "", invalid(`swarm spec must be named "default"`)
	}
	spec := mergeSpec(api.DefaultClusterSpec(), req.Spec)
	spec.Encryption.AutoLockManagers = req.AutoLockManagers
	if err := api.ValidateClusterSpec(spec); err != nil {
		return "", err
	}
	if req.Availability == "" {
		req.Availability = api.AvailabilityActive
	}
	// The VXLAN port, swarm-wide and fixed at init: IANA's registered ports only, as dockerd allows.
	if p := req.DataPathPort; p != 0 && (p < 1024 || p > 49151) {
		return "", invalid("Datapath port number is not in valid range (1024-49151) : %d", p)
	}
	listenAddr, advAddr, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr)
	if err != nil {
		return "", err
	}
	dataPathAddr, err := resolveDataPathAddr(req.DataPathAddr)
	if err != nil {
		return "", err
	}
	host, _, _ := splitAddr(advAddr)

	root, err := ca.NewRootCA()
	if err != nil {
		return "", err
	}
	if spec.CAConfig.SigningCACert != "" {
		if root, err = ca.ParseRootCA([]byte(spec.CAConfig.SigningCACert), []byte(spec.CAConfig.SigningCAKey)); err != nil {
			return "", err
		}
		if root.Key == nil {
			return "", invalid("a signing CA key is needed to initialize a swarm with an external root CA")
		}
		spec.CAConfig.SigningCAKey = ""
	}
	dataKey := ca.NewDataKey()
	nodeID, clusterID := api.NewID(), api.NewID()
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return "", err
	}
	certPEM, err := root.Sign(ca.SignRequest{CSR: csr, NodeID: nodeID, ClusterID: clusterID, Role: api.RoleManager,
		Expiry: spec.CAConfig.NodeCertExpiry, IPs: ipsOf(host)})
	if err != nil {
		return "", err
	}
	sealedCAKey, err := ca.Seal(dataKey, ca.KeyPEM(root.Key))
	if err != nil {
		return "", err
	}
	cl := &api.Cluster{ID: clusterID, Spec: spec, DataKeyID: ca.KeyID(dataKey),
		RootCA: api.RootCA{CACert: root.CertPEM, CAKeySealed: sealedCAKey, CACertHash: root.Digest(),
			JoinTokens: api.JoinTokens{Worker: ca.NewJoinToken(root), Manager: ca.NewJoinToken(root)}},
		DefaultAddrPool: req.DefaultAddrPool, SubnetSize: req.SubnetSize, DataPathPort: req.DataPathPort}
	if len(cl.DefaultAddrPool) == 0 {
		cl.DefaultAddrPool = api.DefaultAddrPool
	}
	if cl.SubnetSize == 0 {
		cl.SubnetSize = api.DefaultSubnetSize
	}
	if cl.DataPathPort == 0 {
		cl.DataPathPort = api.DefaultDataPathPort
	}
	unlockKey := ""
	if req.AutoLockManagers {
		unlockKey = ca.NewUnlockKey()
		if cl.UnlockKeySealed, err = ca.Seal(dataKey, []byte(unlockKey)); err != nil {
			return "", err
		}
	}

	// Nothing half-made: a failure from here removes what was written and started.
	if err := os.MkdirAll(c.cfg.Root, 0o700); err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		c.stopRun()
		c.clear()
		return "", err
	}
	c.mu.Lock()
	c.st = &nodeState{NodeID: nodeID, ClusterID: clusterID, Role: api.RoleManager, Addr: advAddr, ListenAddr: listenAddr,
		Period: spec.Dispatcher.HeartbeatPeriod}
	c.dataKey = dataKey
	c.mu.Unlock()
	if err := c.setCreds(certPEM, keyPEM, root.CertPEM); err != nil {
		return fail(err)
	}
	if err := c.saveCreds(certPEM, root.CertPEM); err != nil {
		return fail(err)
	}
	if err := c.saveKeys(keyMaterial{NodeKey: keyPEM, DataKey: dataKey}, unlockKey); err != nil {
		return fail(err)
	}
	c.setState(StatePending, "")
	runCtx := c.startRun()
	if err := c.startManagerSide(runCtx, nil, false); err != nil {
		return fail(err)
	}
	m, err := c.managerStore()
	if err != nil {
		return fail(err)
	}
	if existing, err := store.List[api.Cluster](ctx, m.Store()); err == nil && len(existing) > 0 {
		return fail(errdefs.ErrConflict.WithMessage("the cluster store already holds a swarm (an external etcd shared with another swarm? give this one its own --swarm-etcd-prefix)"))
	}
	mc, _ := c.managerConfig(nil)
	node := &api.Node{ID: nodeID, Role: api.RoleManager,
		Spec:        api.NodeSpec{DesiredRole: api.RoleManager, Availability: req.Availability},
		Description: c.cfg.Describe(),
		Status:      api.NodeStatus{State: api.NodeStateReady, Addr: host, DataPathAddr: dataPathAddr},
		Manager:     &api.ManagerInfo{Addr: advAddr, MemberID: m.MemberID()}}
	if m.Embedded() {
		node.Manager.PeerURL, node.Manager.ClientURL = mc.PeerURL, mc.ClientURL
	}
	node.Description.TLSInfo = tlsInfo(root.CertPEM)
	if err := m.Store().Update(ctx, func(tx *store.Tx) error {
		if err := store.Create(tx, cl); err != nil {
			return err
		}
		return store.Create(tx, node)
	}); err != nil {
		return fail(err)
	}
	// docker's ingress network, for the routing mesh (ingress.go).
	if _, err := createNetwork(ctx, m.Store(), ingressSpec()); err != nil {
		return fail(fmt.Errorf("ingress network: %w", err))
	}
	if err := c.updateState(func(st *nodeState) { st.Managers = []Peer{{NodeID: nodeID, Addr: advAddr, Leader: true}} }); err != nil {
		return fail(err)
	}
	c.setState(StateActive, "")
	c.startSession(runCtx)
	c.log.Info("swarm initialized", "node", nodeID, "cluster", clusterID, "advertise", advAddr)
	return nodeID, nil
}

// clear forgets the swarm: the node's state on disk and in memory.
func (c *Cluster) clear() {
	os.RemoveAll(c.cfg.Root)
	os.RemoveAll(c.cfg.RunRoot)
	c.mu.Lock()
	c.st, c.dataKey, c.sealedWith = nil, nil, ""
	c.state, c.errMsg = StateInactive, ""
	c.mu.Unlock()
	c.creds.Store(nil)
}

// tlsInfo is the TLS description of a root: docker shows it as the node's and the cluster's TLSInfo.
func tlsInfo(rootPEM []byte) api.TLSInfo {
	certs, err := ca.ParseCerts(rootPEM)
	if err != nil {
		return api.TLSInfo{}
	}
	r := certs[0]
	return api.TLSInfo{TrustRoot: string(pemOf(r.Raw)), CertIssuerSubject: r.RawSubject, CertIssuerPublicKey: r.RawSubjectPublicKeyInfo}
}

func pemOf(der []byte) []byte { return encodeChain([][]byte{der}) }

// mergeSpec is a cluster spec with the fields users set over the defaults (docker sends zeros for unset).
func mergeSpec(def, in api.ClusterSpec) api.ClusterSpec {
	out := def
	out.Labels = in.Labels
	if in.Orchestration.TaskHistoryRetentionLimit != nil {
		out.Orchestration.TaskHistoryRetentionLimit = in.Orchestration.TaskHistoryRetentionLimit
	}
	if in.Raft.SnapshotInterval != 0 {
		out.Raft.SnapshotInterval = in.Raft.SnapshotInterval
	}
	if in.Raft.KeepOldSnapshots != nil {
		out.Raft.KeepOldSnapshots = in.Raft.KeepOldSnapshots
	}
	if in.Raft.LogEntriesForSlowFollowers != 0 {
		out.Raft.LogEntriesForSlowFollowers = in.Raft.LogEntriesForSlowFollowers
	}
	if in.Raft.ElectionTick != 0 {
		out.Raft.ElectionTick = in.Raft.ElectionTick
	}
	if in.Raft.HeartbeatTick != 0 {
		out.Raft.HeartbeatTick = in.Raft.HeartbeatTick
	}
	if in.Dispatcher.HeartbeatPeriod != 0 {
		out.Dispatcher.HeartbeatPeriod = in.Dispatcher.HeartbeatPeriod
	}
	if in.CAConfig.NodeCertExpiry != 0 {
		out.CAConfig.NodeCertExpiry = in.CAConfig.NodeCertExpiry
	}
	out.CAConfig.ExternalCAs = in.CAConfig.ExternalCAs
	out.CAConfig.SigningCACert, out.CAConfig.SigningCAKey = in.CAConfig.SigningCACert, in.CAConfig.SigningCAKey
	out.TaskDefaults = in.TaskDefaults
	return out
}

// Join joins the swarm of a manager at one of req.RemoteAddrs with a join token.
func (c *Cluster) Join(ctx context.Context, req JoinRequest) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if s, _ := c.State(); s != StateInactive {
		return ErrSwarmExists
	}
	if len(req.RemoteAddrs) == 0 {
		return invalid("at least 1 RemoteAddr is required to join")
	}
	tok, err := ca.ParseJoinToken(req.JoinToken)
	if err != nil {
		return err
	}
	listenAddr, advAddr, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr)
	if err != nil {
		return err
	}
	dataPathAddr, err := resolveDataPathAddr(req.DataPathAddr)
	if err != nil {
		return err
	}
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	var root *ca.RootCA
	pc := newPeerClient(ca.PinnedClientConfig(tok.Digest, func(r *ca.RootCA) { root = r }))
	defer pc.close()
	jreq := joinRequest{Token: req.JoinToken, CSR: csr, Description: c.cfg.Describe(), Addr: advAddr, Availability: req.Availability,
		DataPathAddr: dataPathAddr}
	var resp joinResponse
	var lastErr error
	for _, remote := range req.RemoteAddrs {
		host, port, err := splitAddr(remote)
		if err != nil {
			lastErr = invalid("invalid remoteAddr %q: %v", remote, err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		lastErr = pc.call(cctx, joinHostPort(host, port), pathJoin, jreq, &resp)
		cancel()
		if lastErr == nil {
			break
		}
		if errors.Is(lastErr, ca.ErrRootMismatch) {
			lastErr = errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error while validating Root CA Certificate: remote CA does not match fingerprint. Expected: %s", tok.Digest))
		}
		if errdefs.IsInvalidArgument(lastErr) || errdefs.IsPermissionDenied(lastErr) {
			break // the managers refused: another would too
		}
	}
	if lastErr != nil {
		if !errdefs.IsInvalidArgument(lastErr) && !errdefs.IsPermissionDenied(lastErr) && !errdefs.IsUnavailable(lastErr) {
			lastErr = errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("could not join the swarm: %v", lastErr))
		}
		return lastErr
	}
	if root == nil || !bundleHas(resp.RootCA, root) {
		return errdefs.ErrPermissionDenied.WithMessage("the manager's answer does not match its root CA")
	}

	if err := os.MkdirAll(c.cfg.Root, 0o700); err != nil {
		return err
	}
	fail := func(err error) error {
		c.stopRun()
		c.clear()
		return err
	}
	c.mu.Lock()
	c.st = &nodeState{NodeID: resp.NodeID, ClusterID: resp.ClusterID, Role: resp.Role, Addr: advAddr, ListenAddr: listenAddr,
		Managers: resp.Managers, Period: resp.Period}
	if resp.Store != nil {
		c.dataKey = resp.Store.DataKey
	}
	c.mu.Unlock()
	if err := c.setCreds(resp.Cert, keyPEM, resp.RootCA); err != nil {
		return fail(err)
	}
	if err := c.saveCreds(resp.Cert, resp.RootCA); err != nil {
		return fail(err)
	}
	km := keyMaterial{NodeKey: keyPEM}
	if resp.Store != nil {
		km.DataKey = resp.Store.DataKey
	}
	if err := c.saveKeys(km, ""); err != nil {
		return fail(err)
	}
	if err := c.saveState(); err != nil {
		return fail(err)
	}
	c.setState(StatePending, "")
	runCtx := c.startRun()
	if resp.Role == api.RoleManager {
		if err := c.becomeManager(ctx, runCtx, resp.Store); err != nil {
			return fail(err)
		}
	}
	c.setState(StateActive, "")
	c.startSession(runCtx)
	c.log.Info("joined the swarm", "node", resp.NodeID, "role", resp.Role)
	return nil
}

// becomeManager starts this node's manager side with the store join it was given, and records its manager
// addresses in the store.
func (c *Cluster) becomeManager(ctx, runCtx context.Context, sj *storeJoin) error {
	if sj == nil {
		return errors.New("no store join information for a manager")
	}
	if err := c.startManagerSide(runCtx, sj, false); err != nil {
		return err
	}
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	st := c.nodeState()
	mc, _ := c.managerConfig(nil)
	return m.Store().Update(ctx, func(tx *store.Tx) error {
		n, err := store.Get[api.Node](ctx, tx, st.NodeID)
		if err != nil {
			return err
		}
		n.Role, n.Version = api.RoleManager, 0
		n.Manager = &api.ManagerInfo{Addr: st.Addr, MemberID: m.MemberID()}
		if m.Embedded() {
			n.Manager.PeerURL, n.Manager.ClientURL = mc.PeerURL, mc.ClientURL
		}
		return store.Put(tx, n)
	})
}

// bundleHas reports whether a PEM bundle holds root.
func bundleHas(bundle []byte, root *ca.RootCA) bool {
	certs, err := ca.ParseCerts(bundle)
	if err != nil {
		return false
	}
	for _, c := range certs {
		if c.Equal(root.Cert) {
			return true
		}
	}
	return false
}
