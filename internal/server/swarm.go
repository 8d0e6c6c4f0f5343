package server

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// SwarmBackend is swarm mode: the node's membership (/swarm) and the cluster's nodes (/nodes), in Berth's
// cluster types; the routes convert to docker's (moby's daemon/cluster/convert does the same for swarmkit).
type SwarmBackend interface {
	Init(ctx context.Context, req cluster.InitRequest) (string, error)
	Join(ctx context.Context, req cluster.JoinRequest) error
	Leave(ctx context.Context, force bool) error
	Inspect(ctx context.Context) (cluster.Swarm, error)
	Update(ctx context.Context, version uint64, spec api.ClusterSpec, flags cluster.UpdateFlags) error
	UnlockKey(ctx context.Context) (string, error)
	Unlock(ctx context.Context, key string) error
	Info(ctx context.Context) cluster.Info

	Nodes(ctx context.Context, f filters.Args) ([]cluster.Node, error)
	Node(ctx context.Context, ref string) (cluster.Node, error)
	UpdateNode(ctx context.Context, ref string, version uint64, spec api.NodeSpec) error
	RemoveNode(ctx context.Context, ref string, force bool) error
	// Tasks and Task are the cluster's tasks (the services layer makes them; node ps lists them).
	Tasks(ctx context.Context, f filters.Args) ([]*api.Task, error)
	Task(ctx context.Context, id string) (*api.Task, error)
	ServiceBackend
	SecretBackend
}

func (s *Server) swarmRoutes() {
	m := s.mux
	m.HandleFunc("GET /swarm", s.swarmInspect)
	m.HandleFunc("POST /swarm/init", s.swarmInit)
	m.HandleFunc("POST /swarm/join", s.swarmJoin)
	m.HandleFunc("POST /swarm/leave", s.swarmLeave)
	m.HandleFunc("POST /swarm/update", s.swarmUpdate)
	m.HandleFunc("GET /swarm/unlockkey", s.swarmUnlockKey)
	m.HandleFunc("POST /swarm/unlock", s.swarmUnlock)
	m.HandleFunc("GET /nodes", s.nodeList)
	m.HandleFunc("GET /nodes/{id}", s.nodeInspect)
	m.HandleFunc("DELETE /nodes/{id}", s.nodeRemove)
	m.HandleFunc("POST /nodes/{id}/update", s.nodeUpdate)
	m.HandleFunc("GET /tasks", s.taskList)
	m.HandleFunc("GET /tasks/{id}", s.taskInspect)
	s.serviceRoutes()
	s.secretRoutes()
}

func (s *Server) taskList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	tasks, err := s.b.Swarm.Tasks(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]swarm.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskToDocker(t))
	}
	writeJSON(w, 200, out)
}

func (s *Server) taskInspect(w http.ResponseWriter, r *http.Request) {
	t, err := s.b.Swarm.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, taskToDocker(t))
}

// taskToDocker is a task in docker's shape.
func taskToDocker(t *api.Task) swarm.Task {
	out := swarm.Task{ID: t.ID, Meta: metaToDocker(t.Meta), Annotations: swarm.Annotations{Labels: map[string]string{}},
		ServiceID: t.ServiceID, Slot: int(t.Slot), NodeID: t.NodeID, Spec: taskSpecToDocker(t.Spec),
		DesiredState: swarm.TaskState(t.DesiredState.String()),
		Status:       swarm.TaskStatus{Timestamp: t.Status.Timestamp, State: swarm.TaskState(t.Status.State.String()), Message: t.Status.Message, Err: t.Status.Err}}
	if t.Status.ContainerID != "" {
		out.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: t.Status.ContainerID, PID: t.Status.PID, ExitCode: t.Status.ExitCode}
	}
	for _, p := range t.Status.Ports {
		out.Status.PortStatus.Ports = append(out.Status.PortStatus.Ports, portToDocker(p))
	}
	for _, n := range t.Networks {
		// The network by its ID only: a task carries no copy of the network object.
		na := swarm.NetworkAttachment{Network: swarm.Network{ID: n.NetworkID}}
		for _, a := range n.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				na.Addresses = append(na.Addresses, p)
			}
		}
		out.NetworksAttachments = append(out.NetworksAttachments, na)
	}
	if t.JobIteration != 0 || (t.DesiredState == api.TaskComplete) {
		out.JobIteration = &swarm.Version{Index: t.JobIteration}
	}
	return out
}

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request) {
	sw, err := s.b.Swarm.Inspect(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, swarmToDocker(sw))
}

func (s *Server) swarmInit(w http.ResponseWriter, r *http.Request) {
	var req swarm.InitRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.b.Swarm.Init(r.Context(), cluster.InitRequest{
		ListenAddr: req.ListenAddr, AdvertiseAddr: req.AdvertiseAddr, DataPathAddr: req.DataPathAddr, DataPathPort: req.DataPathPort,
		ForceNewCluster: req.ForceNewCluster, Spec: specFromDocker(req.Spec), AutoLockManagers: req.AutoLockManagers,
		Availability: api.NodeAvailability(req.Availability), DefaultAddrPool: req.DefaultAddrPool, SubnetSize: req.SubnetSize,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, id)
}

func (s *Server) swarmJoin(w http.ResponseWriter, r *http.Request) {
	var req swarm.JoinRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	err := s.b.Swarm.Join(r.Context(), cluster.JoinRequest{ListenAddr: req.ListenAddr, AdvertiseAddr: req.AdvertiseAddr,
		DataPathAddr: req.DataPathAddr, RemoteAddrs: req.RemoteAddrs, JoinToken: req.JoinToken, Availability: api.NodeAvailability(req.Availability)})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) swarmLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Swarm.Leave(r.Context(), boolValue(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

// versionParam reads the version query parameter of an update, with moby's words.
func versionParam(r *http.Request, what string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid %s version '%s': %v", what, raw, err))
	}
	return v, nil
}

func (s *Server) swarmUpdate(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r, "swarm")
	if err != nil {
		writeError(w, err)
		return
	}
	var spec swarm.Spec
	if err := decodeBody(r, &spec); err != nil {
		writeError(w, err)
		return
	}
	flags := cluster.UpdateFlags{RotateWorkerToken: boolValue(r, "rotateWorkerToken"), RotateManagerToken: boolValue(r, "rotateManagerToken"),
		RotateManagerUnlockKey: boolValue(r, "rotateManagerUnlockKey")}
	if err := s.b.Swarm.Update(r.Context(), version, specFromDocker(spec), flags); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) swarmUnlockKey(w http.ResponseWriter, r *http.Request) {
	key, err := s.b.Swarm.UnlockKey(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, swarm.UnlockKeyResponse{UnlockKey: key})
}

func (s *Server) swarmUnlock(w http.ResponseWriter, r *http.Request) {
	var req swarm.UnlockRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.b.Swarm.Unlock(r.Context(), req.UnlockKey); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) nodeList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	nodes, err := s.b.Swarm.Nodes(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]swarm.Node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodeToDocker(n))
	}
	writeJSON(w, 200, out)
}

func (s *Server) nodeInspect(w http.ResponseWriter, r *http.Request) {
	n, err := s.b.Swarm.Node(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, nodeToDocker(n))
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Swarm.RemoveNode(r.Context(), r.PathValue("id"), boolValue(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r, "node")
	if err != nil {
		writeError(w, err)
		return
	}
	var spec swarm.NodeSpec
	if err := decodeBody(r, &spec); err != nil {
		writeError(w, err)
		return
	}
	ns := api.NodeSpec{Annotations: api.Annotations{Name: spec.Name, Labels: spec.Labels},
		DesiredRole: api.NodeRole(strings.ToLower(string(spec.Role))), Availability: api.NodeAvailability(strings.ToLower(string(spec.Availability)))}
	if err := s.b.Swarm.UpdateNode(r.Context(), r.PathValue("id"), version, ns); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

// Conversions between Berth's cluster types and docker's.

func metaToDocker(m api.Meta) swarm.Meta {
	return swarm.Meta{Version: swarm.Version{Index: m.Version}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

func tlsToDocker(t api.TLSInfo) swarm.TLSInfo {
	return swarm.TLSInfo{TrustRoot: t.TrustRoot, CertIssuerSubject: t.CertIssuerSubject, CertIssuerPublicKey: t.CertIssuerPublicKey}
}

func nodeToDocker(n cluster.Node) swarm.Node {
	d := n.Description
	out := swarm.Node{
		ID:   n.ID,
		Meta: metaToDocker(n.Meta),
		Spec: swarm.NodeSpec{Annotations: swarm.Annotations{Name: n.Spec.Name, Labels: labelsOrEmpty(n.Spec.Labels)},
			Role: swarm.NodeRole(n.Spec.DesiredRole), Availability: swarm.NodeAvailability(n.Spec.Availability)},
		Description: swarm.NodeDescription{Hostname: d.Hostname,
			Platform:  swarm.Platform{Architecture: d.Platform.Architecture, OS: d.Platform.OS},
			Resources: swarm.Resources{NanoCPUs: d.Resources.NanoCPUs, MemoryBytes: d.Resources.MemoryBytes},
			Engine:    swarm.EngineDescription{EngineVersion: d.Engine.EngineVersion, Labels: d.Engine.Labels},
			TLSInfo:   tlsToDocker(d.TLSInfo)},
		Status: swarm.NodeStatus{State: swarm.NodeState(n.Status.State), Message: n.Status.Message, Addr: n.Status.Addr},
	}
	for _, p := range d.Engine.Plugins {
		out.Description.Engine.Plugins = append(out.Description.Engine.Plugins, swarm.PluginDescription{Type: p.Type, Name: p.Name})
	}
	if ms := n.ManagerStatus; ms != nil {
		out.ManagerStatus = &swarm.ManagerStatus{Leader: ms.Leader, Reachability: swarm.Reachability(ms.Reachability), Addr: ms.Addr}
	}
	return out
}

func specToDocker(s api.ClusterSpec) swarm.Spec {
	out := swarm.Spec{
		Annotations:   swarm.Annotations{Name: s.Name, Labels: labelsOrEmpty(s.Labels)},
		Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: s.Orchestration.TaskHistoryRetentionLimit},
		Raft: swarm.RaftConfig{SnapshotInterval: s.Raft.SnapshotInterval, KeepOldSnapshots: s.Raft.KeepOldSnapshots,
			LogEntriesForSlowFollowers: s.Raft.LogEntriesForSlowFollowers, ElectionTick: s.Raft.ElectionTick, HeartbeatTick: s.Raft.HeartbeatTick},
		Dispatcher:       swarm.DispatcherConfig{HeartbeatPeriod: s.Dispatcher.HeartbeatPeriod},
		CAConfig:         swarm.CAConfig{NodeCertExpiry: s.CAConfig.NodeCertExpiry, SigningCACert: s.CAConfig.SigningCACert, ForceRotate: s.CAConfig.ForceRotate},
		EncryptionConfig: swarm.EncryptionConfig{AutoLockManagers: s.Encryption.AutoLockManagers},
	}
	for _, e := range s.CAConfig.ExternalCAs {
		out.CAConfig.ExternalCAs = append(out.CAConfig.ExternalCAs, &swarm.ExternalCA{Protocol: swarm.ExternalCAProtocol(e.Protocol), URL: e.URL, Options: e.Options, CACert: e.CACert})
	}
	if d := s.TaskDefaults.LogDriver; d != nil {
		out.TaskDefaults.LogDriver = &swarm.Driver{Name: d.Name, Options: d.Options}
	}
	return out
}

func specFromDocker(s swarm.Spec) api.ClusterSpec {
	out := api.ClusterSpec{
		Annotations:   api.Annotations{Name: s.Name, Labels: s.Labels},
		Orchestration: api.OrchestrationConfig{TaskHistoryRetentionLimit: s.Orchestration.TaskHistoryRetentionLimit},
		Raft: api.RaftConfig{SnapshotInterval: s.Raft.SnapshotInterval, KeepOldSnapshots: s.Raft.KeepOldSnapshots,
			LogEntriesForSlowFollowers: s.Raft.LogEntriesForSlowFollowers, ElectionTick: s.Raft.ElectionTick, HeartbeatTick: s.Raft.HeartbeatTick},
		Dispatcher: api.DispatcherConfig{HeartbeatPeriod: s.Dispatcher.HeartbeatPeriod},
		CAConfig: api.CAConfig{NodeCertExpiry: s.CAConfig.NodeCertExpiry, SigningCACert: s.CAConfig.SigningCACert,
			SigningCAKey: s.CAConfig.SigningCAKey, ForceRotate: s.CAConfig.ForceRotate},
		Encryption: api.EncryptionConfig{AutoLockManagers: s.EncryptionConfig.AutoLockManagers},
	}
	for _, e := range s.CAConfig.ExternalCAs {
		if e != nil {
			out.CAConfig.ExternalCAs = append(out.CAConfig.ExternalCAs, api.ExternalCA{Protocol: string(e.Protocol), URL: e.URL, Options: e.Options, CACert: e.CACert})
		}
	}
	if d := s.TaskDefaults.LogDriver; d != nil {
		out.TaskDefaults.LogDriver = &api.Driver{Name: d.Name, Options: d.Options}
	}
	return out
}

func clusterInfoToDocker(sw cluster.Swarm) swarm.ClusterInfo {
	cl := sw.Cluster
	return swarm.ClusterInfo{ID: cl.ID, Meta: metaToDocker(cl.Meta), Spec: specToDocker(cl.Spec), TLSInfo: tlsToDocker(sw.TLSInfo),
		RootRotationInProgress: sw.RootRotationInProgress, DefaultAddrPool: cl.DefaultAddrPool, SubnetSize: cl.SubnetSize, DataPathPort: cl.DataPathPort}
}

func swarmToDocker(sw cluster.Swarm) swarm.Swarm {
	return swarm.Swarm{ClusterInfo: clusterInfoToDocker(sw), JoinTokens: swarm.JoinTokens{Worker: sw.JoinTokens.Worker, Manager: sw.JoinTokens.Manager}}
}

// swarmInfo is /info's Swarm section.
func swarmInfo(in cluster.Info) swarm.Info {
	out := swarm.Info{NodeID: in.NodeID, NodeAddr: in.NodeAddr, LocalNodeState: swarm.LocalNodeState(in.State),
		ControlAvailable: in.ControlAvailable, Error: in.Error, Nodes: in.Nodes, Managers: in.Managers, Warnings: in.Warnings}
	for _, p := range in.RemoteManagers {
		out.RemoteManagers = append(out.RemoteManagers, swarm.Peer{NodeID: p.NodeID, Addr: p.Addr})
	}
	if in.Swarm != nil {
		ci := clusterInfoToDocker(*in.Swarm)
		out.Cluster = &ci
	}
	return out
}

// noSwarm is the swarm backend of a server built without one: the node is in no swarm.
type noSwarm struct{}

func (noSwarm) Init(context.Context, cluster.InitRequest) (string, error) {
	return "", cluster.ErrNoSwarm
}
func (noSwarm) Join(context.Context, cluster.JoinRequest) error { return cluster.ErrNoSwarm }
func (noSwarm) Leave(context.Context, bool) error               { return cluster.ErrNoSwarm }
func (noSwarm) Inspect(context.Context) (cluster.Swarm, error) {
	return cluster.Swarm{}, cluster.ErrNoSwarm
}
func (noSwarm) Update(context.Context, uint64, api.ClusterSpec, cluster.UpdateFlags) error {
	return cluster.ErrNoSwarm
}
func (noSwarm) UnlockKey(context.Context) (string, error) { return "", cluster.ErrNoSwarm }
func (noSwarm) Unlock(context.Context, string) error      { return cluster.ErrNoSwarm }
func (noSwarm) Info(context.Context) cluster.Info         { return cluster.Info{State: cluster.StateInactive} }
func (noSwarm) Nodes(context.Context, filters.Args) ([]cluster.Node, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) Node(context.Context, string) (cluster.Node, error) {
	return cluster.Node{}, cluster.ErrNoSwarm
}
func (noSwarm) UpdateNode(context.Context, string, uint64, api.NodeSpec) error {
	return cluster.ErrNoSwarm
}
func (noSwarm) RemoveNode(context.Context, string, bool) error { return cluster.ErrNoSwarm }
func (noSwarm) Tasks(context.Context, filters.Args) ([]*api.Task, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) Task(context.Context, string) (*api.Task, error) { return nil, cluster.ErrNoSwarm }
func (noSwarm) CreateService(context.Context, api.ServiceSpec, string) (string, error) {
	return "", cluster.ErrNoSwarm
}
func (noSwarm) Services(context.Context, filters.Args, bool) ([]cluster.Service, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) Service(context.Context, string) (cluster.Service, error) {
	return cluster.Service{}, cluster.ErrNoSwarm
}
func (noSwarm) UpdateService(context.Context, string, uint64, api.ServiceSpec, cluster.ServiceUpdateOptions) error {
	return cluster.ErrNoSwarm
}
func (noSwarm) RemoveService(context.Context, string) error { return cluster.ErrNoSwarm }
func (noSwarm) ServiceLogs(context.Context, string, cluster.LogsOptions) (<-chan api.LogMessage, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) TaskLogs(context.Context, string, cluster.LogsOptions) (<-chan api.LogMessage, error) {
	return nil, cluster.ErrNoSwarm
}
