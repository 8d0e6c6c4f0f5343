package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// ServiceBackend is swarm mode's services (/services) and the logs of services and tasks, in Berth's cluster
// types; the routes convert to docker's (as moby's daemon/cluster/convert does for swarmkit).
type ServiceBackend interface {
	CreateService(ctx context.Context, spec api.ServiceSpec, encodedAuth string) (string, error)
	Services(ctx context.Context, f filters.Args, status bool) ([]cluster.Service, error)
	Service(ctx context.Context, ref string) (cluster.Service, error)
	UpdateService(ctx context.Context, ref string, version uint64, spec api.ServiceSpec, opts cluster.ServiceUpdateOptions) error
	RemoveService(ctx context.Context, ref string) error
	ServiceLogs(ctx context.Context, ref string, opts cluster.LogsOptions) (<-chan api.LogMessage, error)
	TaskLogs(ctx context.Context, ref string, opts cluster.LogsOptions) (<-chan api.LogMessage, error)
}

func (s *Server) serviceRoutes() {
	m := s.mux
	m.HandleFunc("GET /services", s.serviceList)
	m.HandleFunc("POST /services/create", s.serviceCreate)
	m.HandleFunc("GET /services/{id}", s.serviceInspect)
	m.HandleFunc("POST /services/{id}/update", s.serviceUpdate)
	m.HandleFunc("DELETE /services/{id}", s.serviceRemove)
	m.HandleFunc("GET /services/{id}/logs", s.serviceLogs)
	m.HandleFunc("GET /tasks/{id}/logs", s.taskLogs)
}

func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) {
	var in swarm.ServiceSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	spec, err := serviceSpecFromDocker(in)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := s.b.Swarm.CreateService(r.Context(), spec, r.Header.Get("X-Registry-Auth"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: id})
}

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	services, err := s.b.Swarm.Services(r.Context(), f, boolValue(r, "status"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]swarm.Service, 0, len(services))
	for _, svc := range services {
		out = append(out, serviceToDocker(svc, false))
	}
	writeJSON(w, 200, out)
}

func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request) {
	svc, err := s.b.Swarm.Service(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, serviceToDocker(svc, boolValue(r, "insertDefaults")))
}

func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r, "service")
	if err != nil {
		writeError(w, err)
		return
	}
	var in swarm.ServiceSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	spec, err := serviceSpecFromDocker(in)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := cluster.ServiceUpdateOptions{Rollback: q.Get("rollback"), RegistryAuthFrom: q.Get("registryAuthFrom"),
		EncodedAuth: r.Header.Get("X-Registry-Auth")}
	if err := s.b.Swarm.UpdateService(r.Context(), r.PathValue("id"), version, spec, opts); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, swarm.ServiceUpdateResponse{})
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Swarm.RemoveService(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

// logsOptions reads a logs request's parameters with moby's checks and words.
func logsOptions(r *http.Request) (cluster.LogsOptions, bool, bool, error) {
	q := r.URL.Query()
	o := cluster.LogsOptions{Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), Follow: boolValue(r, "follow"), Tail: -1}
	if !o.Stdout && !o.Stderr {
		return o, false, false, errdefs.ErrInvalidArgument.WithMessage("must specify at least one of 'stdout' or 'stderr'")
	}
	if v := q.Get("since"); v != "" {
		t, err := filters.ParseUnixTimestamp(v)
		if err != nil {
			return o, false, false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(`invalid value for "since": %v`, err))
		}
		o.Since = t
	}
	switch tail := q.Get("tail"); tail {
	case "", "all":
	default:
		n, err := strconv.Atoi(tail)
		if err != nil {
			return o, false, false, errdefs.ErrInvalidArgument.WithMessage(`tail value must be a positive integer or "all"`)
		}
		if n < 0 {
			return o, false, false, errdefs.ErrInvalidArgument.WithMessage("negative tail values not supported")
		}
		o.Tail = int64(n)
	}
	return o, boolValue(r, "timestamps"), boolValue(r, "details"), nil
}

func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) {
	opts, ts, details, err := logsOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	svc, err := s.b.Swarm.Service(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	tty := svc.Spec.Task.Container != nil && svc.Spec.Task.Container.TTY
	msgs, err := s.b.Swarm.ServiceLogs(r.Context(), svc.ID, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeLogStream(r.Context(), w, msgs, ts, details, !tty)
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) {
	opts, ts, details, err := logsOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := s.b.Swarm.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	tty := t.Spec.Container != nil && t.Spec.Container.TTY
	msgs, err := s.b.Swarm.TaskLogs(r.Context(), t.ID, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeLogStream(r.Context(), w, msgs, ts, details, !tty)
}

// writeLogStream writes log messages as moby's logstream.Write: each line with its details (the swarm
// context, which the docker CLI turns into "name.slot.id@node |") and timestamp when asked, multiplexed
// unless the service has a terminal; an error goes on the system error stream.
func writeLogStream(ctx context.Context, w http.ResponseWriter, msgs <-chan api.LogMessage, timestamps, details, mux bool) {
	ct := "application/vnd.docker.raw-stream"
	if mux {
		ct = "application/vnd.docker.multiplexed-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	fw.Flush()
	frame := func(stream byte, p []byte) {
		if !mux {
			w.Write(p)
			return
		}
		hdr := make([]byte, 8, 8+len(p))
		hdr[0] = stream
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		w.Write(append(hdr, p...))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if m.Err != "" {
				frame(3, []byte("Error grabbing logs: "+m.Err+"\n"))
				fw.Flush()
				continue
			}
			line := m.Data
			if details {
				line = append(logDetails(m), append([]byte{' '}, line...)...)
			}
			if timestamps {
				line = append([]byte(m.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")+" "), line...)
			}
			stream := byte(1)
			if m.Stream == "stderr" {
				stream = 2
			}
			frame(stream, line)
			if len(msgs) == 0 {
				fw.Flush()
			}
		}
	}
}

// logDetails are a line's attributes, sorted, as moby's attrsByteSlice: the driver's, then the swarm context.
func logDetails(m api.LogMessage) []byte {
	attrs := map[string]string{}
	for k, v := range m.Attrs {
		attrs[k] = v
	}
	attrs["com.docker.swarm.node.id"] = m.NodeID
	attrs["com.docker.swarm.service.id"] = m.ServiceID
	attrs["com.docker.swarm.task.id"] = m.TaskID
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, url.QueryEscape(k)+"="+url.QueryEscape(attrs[k])...)
	}
	return b
}

// Conversions of services between docker's shape and Berth's cluster types.

// serviceSpecFromDocker is docker's service spec in Berth's type, with moby's defaults (one replica; a
// replicated job's MaxConcurrent 1 and TotalCompletions MaxConcurrent).
func serviceSpecFromDocker(s swarm.ServiceSpec) (api.ServiceSpec, error) {
	out := api.ServiceSpec{Annotations: api.Annotations{Name: s.Name, Labels: s.Labels}}
	modes := 0
	for _, set := range []bool{s.Mode.Global != nil, s.Mode.Replicated != nil, s.Mode.ReplicatedJob != nil, s.Mode.GlobalJob != nil} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return out, errdefs.ErrInvalidArgument.WithMessage("must specify only one service mode")
	}
	switch {
	case s.Mode.Global != nil:
		out.Mode = api.ModeGlobal
	case s.Mode.GlobalJob != nil:
		out.Mode = api.ModeGlobalJob
	case s.Mode.ReplicatedJob != nil:
		out.Mode = api.ModeReplicatedJob
		mc := uint64(1)
		if s.Mode.ReplicatedJob.MaxConcurrent != nil {
			mc = *s.Mode.ReplicatedJob.MaxConcurrent
		}
		tc := mc
		if s.Mode.ReplicatedJob.TotalCompletions != nil {
			tc = *s.Mode.ReplicatedJob.TotalCompletions
		}
		out.MaxConcurrent, out.TotalCompletions = &mc, &tc
	default:
		out.Mode = api.ModeReplicated
		n := uint64(1)
		if s.Mode.Replicated != nil && s.Mode.Replicated.Replicas != nil {
			n = *s.Mode.Replicated.Replicas
		}
		out.Replicas = &n
	}
	t, err := taskSpecFromDocker(s.TaskTemplate)
	if err != nil {
		return out, err
	}
	out.Task = t
	out.Update = updateConfigFromDocker(s.UpdateConfig)
	out.Rollback = updateConfigFromDocker(s.RollbackConfig)
	if e := s.EndpointSpec; e != nil {
		out.Endpoint = &api.EndpointSpec{Mode: string(e.Mode)}
		for _, p := range e.Ports {
			mode := string(p.PublishMode)
			if mode == "" {
				mode = string(swarm.PortConfigPublishModeIngress)
			}
			out.Endpoint.Ports = append(out.Endpoint.Ports, api.PortSpec{Name: p.Name, Protocol: string(p.Protocol),
				TargetPort: p.TargetPort, PublishedPort: p.PublishedPort, PublishMode: mode})
		}
	}
	return out, nil
}

func updateConfigFromDocker(u *swarm.UpdateConfig) *api.UpdateConfig {
	if u == nil {
		return nil
	}
	return &api.UpdateConfig{Parallelism: u.Parallelism, Delay: u.Delay, FailureAction: string(u.FailureAction), Monitor: u.Monitor,
		MaxFailureRatio: u.MaxFailureRatio, Order: string(u.Order)}
}

func updateConfigToDocker(u *api.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	return &swarm.UpdateConfig{Parallelism: u.Parallelism, Delay: u.Delay, FailureAction: swarm.FailureAction(u.FailureAction),
		Monitor: u.Monitor, MaxFailureRatio: u.MaxFailureRatio, Order: swarm.UpdateOrder(u.Order)}
}

func taskSpecFromDocker(t swarm.TaskSpec) (api.TaskSpec, error) {
	out := api.TaskSpec{ForceUpdate: t.ForceUpdate}
	switch t.Runtime {
	case "", swarm.RuntimeContainer:
	default:
		return out, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unsupported runtime type: %q", t.Runtime))
	}
	if t.ContainerSpec != nil {
		out.Container = containerSpecFromDocker(t.ContainerSpec)
	}
	if r := t.Resources; r != nil {
		out.Resources = &api.ResourceRequirements{}
		if l := r.Limits; l != nil {
			out.Resources.Limits = &api.Resources{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids}
		}
		if rs := r.Reservations; rs != nil {
			out.Resources.Reservations = &api.Resources{NanoCPUs: rs.NanoCPUs, MemoryBytes: rs.MemoryBytes}
		}
	}
	if rp := t.RestartPolicy; rp != nil {
		out.RestartPolicy = &api.RestartPolicy{Condition: api.RestartCondition(rp.Condition), Delay: rp.Delay, MaxAttempts: rp.MaxAttempts, Window: rp.Window}
	}
	if p := t.Placement; p != nil {
		out.Placement = &api.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
		for _, pr := range p.Preferences {
			if pr.Spread != nil {
				out.Placement.Preferences = append(out.Placement.Preferences, api.SpreadOver{SpreadDescriptor: pr.Spread.SpreadDescriptor})
			}
		}
		for _, pl := range p.Platforms {
			out.Placement.Platforms = append(out.Placement.Platforms, api.Platform{OS: pl.OS, Architecture: pl.Architecture})
		}
	}
	for _, n := range t.Networks {
		out.Networks = append(out.Networks, api.NetworkAttachment{Target: n.Target, Aliases: n.Aliases})
	}
	if d := t.LogDriver; d != nil {
		out.LogDriver = &api.Driver{Name: d.Name, Options: d.Options}
	}
	return out, nil
}

func taskSpecToDocker(t api.TaskSpec) swarm.TaskSpec {
	out := swarm.TaskSpec{ForceUpdate: t.ForceUpdate}
	if t.Container != nil {
		out.ContainerSpec = containerSpecToDocker(t.Container)
		out.Runtime = swarm.RuntimeContainer
	}
	if r := t.Resources; r != nil {
		out.Resources = &swarm.ResourceRequirements{}
		if l := r.Limits; l != nil {
			out.Resources.Limits = &swarm.Limit{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids}
		}
		if rs := r.Reservations; rs != nil {
			out.Resources.Reservations = &swarm.Resources{NanoCPUs: rs.NanoCPUs, MemoryBytes: rs.MemoryBytes}
		}
	}
	if rp := t.RestartPolicy; rp != nil {
		out.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition), Delay: rp.Delay, MaxAttempts: rp.MaxAttempts, Window: rp.Window}
	}
	if p := t.Placement; p != nil {
		out.Placement = &swarm.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
		for _, pr := range p.Preferences {
			out.Placement.Preferences = append(out.Placement.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pr.SpreadDescriptor}})
		}
		for _, pl := range p.Platforms {
			out.Placement.Platforms = append(out.Placement.Platforms, swarm.Platform{OS: pl.OS, Architecture: pl.Architecture})
		}
	}
	for _, n := range t.Networks {
		out.Networks = append(out.Networks, swarm.NetworkAttachmentConfig{Target: n.Target, Aliases: n.Aliases})
	}
	if d := t.LogDriver; d != nil {
		out.LogDriver = &swarm.Driver{Name: d.Name, Options: d.Options}
	}
	return out
}

func serviceSpecToDocker(s *api.ServiceSpec) swarm.ServiceSpec {
	out := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: s.Name, Labels: labelsOrEmpty(s.Labels)},
		TaskTemplate: taskSpecToDocker(s.Task), UpdateConfig: updateConfigToDocker(s.Update), RollbackConfig: updateConfigToDocker(s.Rollback)}
	switch s.Mode {
	case api.ModeGlobal:
		out.Mode.Global = &swarm.GlobalService{}
	case api.ModeGlobalJob:
		out.Mode.GlobalJob = &swarm.GlobalJob{}
	case api.ModeReplicatedJob:
		mc, tc := uint64(1), uint64(1)
		if s.MaxConcurrent != nil {
			mc = *s.MaxConcurrent
		}
		tc = mc
		if s.TotalCompletions != nil {
			tc = *s.TotalCompletions
		}
		out.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: &mc, TotalCompletions: &tc}
	default:
		n := uint64(0)
		if s.Replicas != nil {
			n = *s.Replicas
		}
		out.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	if e := s.Endpoint; e != nil {
		out.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionMode(e.Mode)}
		for _, p := range e.Ports {
			out.EndpointSpec.Ports = append(out.EndpointSpec.Ports, portToDocker(p))
		}
	}
	return out
}

func portToDocker(p api.PortSpec) swarm.PortConfig {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return swarm.PortConfig{Name: p.Name, Protocol: network.IPProtocol(proto), TargetPort: p.TargetPort,
		PublishedPort: p.PublishedPort, PublishMode: swarm.PortConfigPublishMode(p.PublishMode)}
}

// withDefaults is a spec with swarmkit's defaults filled in (service inspect's insertDefaults, as
// swarmkit's defaults.InterpolateService).
func withDefaults(s swarm.ServiceSpec) swarm.ServiceSpec {
	if c := s.TaskTemplate.ContainerSpec; c != nil {
		cc := *c
		if cc.StopGracePeriod == nil {
			d := 10 * time.Second
			cc.StopGracePeriod = &d
		}
		if cc.DNSConfig == nil {
			cc.DNSConfig = &swarm.DNSConfig{}
		}
		s.TaskTemplate.ContainerSpec = &cc
	}
	if s.TaskTemplate.Resources == nil {
		s.TaskTemplate.Resources = &swarm.ResourceRequirements{}
	}
	delay := 5 * time.Second
	if s.TaskTemplate.RestartPolicy == nil {
		s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay}
	} else if s.TaskTemplate.RestartPolicy.Delay == nil {
		rp := *s.TaskTemplate.RestartPolicy
		rp.Delay = &delay
		s.TaskTemplate.RestartPolicy = &rp
	}
	if s.TaskTemplate.Placement == nil {
		s.TaskTemplate.Placement = &swarm.Placement{}
	}
	def := func(u *swarm.UpdateConfig) *swarm.UpdateConfig {
		if u == nil {
			return &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause, Monitor: 5 * time.Second, Order: swarm.UpdateOrderStopFirst}
		}
		c := *u
		if c.Monitor == 0 {
			c.Monitor = 5 * time.Second
		}
		return &c
	}
	if s.Mode.ReplicatedJob == nil && s.Mode.GlobalJob == nil {
		s.UpdateConfig = def(s.UpdateConfig)
	}
	s.RollbackConfig = def(s.RollbackConfig)
	return s
}

func serviceToDocker(svc cluster.Service, insertDefaults bool) swarm.Service {
	s := svc.Service
	out := swarm.Service{ID: s.ID, Meta: metaToDocker(s.Meta), Spec: serviceSpecToDocker(&s.Spec)}
	if s.PreviousSpec != nil {
		ps := serviceSpecToDocker(s.PreviousSpec)
		out.PreviousSpec = &ps
	}
	if insertDefaults {
		out.Spec = withDefaults(out.Spec)
		if out.PreviousSpec != nil {
			ps := withDefaults(*out.PreviousSpec)
			out.PreviousSpec = &ps
		}
	}
	mode := swarm.ResolutionModeVIP
	if e := s.Spec.Endpoint; e != nil && e.Mode != "" {
		mode = swarm.ResolutionMode(e.Mode)
	}
	out.Endpoint.Spec.Mode = mode
	if e := s.Spec.Endpoint; e != nil {
		for _, p := range e.Ports {
			out.Endpoint.Spec.Ports = append(out.Endpoint.Spec.Ports, portToDocker(p))
			if s.Endpoint == nil || len(s.Endpoint.Ports) == 0 {
				out.Endpoint.Ports = append(out.Endpoint.Ports, portToDocker(p))
			}
		}
	}
	if e := s.Endpoint; e != nil {
		for _, p := range e.Ports { // as allocated (an ingress port published as 0 got one)
			out.Endpoint.Ports = append(out.Endpoint.Ports, portToDocker(p))
		}
		for _, v := range e.VirtualIPs {
			out.Endpoint.VirtualIPs = append(out.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: v.NetworkID, Addr: v.Addr})
		}
	}
	if u := s.UpdateStatus; u != nil {
		out.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateState(u.State), Message: u.Message}
		if !u.StartedAt.IsZero() {
			t := u.StartedAt
			out.UpdateStatus.StartedAt = &t
		}
		if !u.CompletedAt.IsZero() {
			t := u.CompletedAt
			out.UpdateStatus.CompletedAt = &t
		}
	}
	if s.Spec.Mode == api.ModeReplicatedJob || s.Spec.Mode == api.ModeGlobalJob {
		out.JobStatus = &swarm.JobStatus{JobIteration: swarm.Version{Index: s.JobIteration}, LastExecution: s.LastExecution}
	}
	if st := svc.Status; st != nil {
		out.ServiceStatus = &swarm.ServiceStatus{RunningTasks: st.Running, DesiredTasks: st.Desired, CompletedTasks: st.Completed}
	}
	return out
}
