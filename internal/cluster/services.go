package cluster

import (
	"context"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/placement"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/filters"
)

// The services API of a manager (docker's /services), over the store: specs are checked as swarmkit's control
// API checks them, in its words, and written with compare-and-swap; the leader's orchestrator and scheduler
// take it from there.

// ServiceStatus is a service's task counts, as `service ls` shows them (REPLICAS).
type ServiceStatus struct {
	Running, Desired, Completed uint64
}

// Service is a service as the API shows it: the stored service and, when asked, its task counts.
type Service struct {
	*api.Service
	Status *ServiceStatus
}

// ServiceUpdateOptions are service update's options beside the spec.
type ServiceUpdateOptions struct {
	// Rollback is "previous" to go back to the previous spec ("" or "none" otherwise).
	Rollback string
	// EncodedAuth is X-Registry-Auth; RegistryAuthFrom ("spec", "previous-spec") says whose credentials to
	// keep when it is empty.
	EncodedAuth      string
	RegistryAuthFrom string
}

// ErrIngressPublish refuses ports published in ingress mode while the cluster has no ingress network (swarmkit's
// words; `docker network rm ingress` removes it).
var ErrIngressPublish = api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "service needs ingress network, but no ingress network is present")

var (
	nameLeft  = []string{"admiring", "brave", "clever", "dreamy", "eager", "focused", "gallant", "happy", "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "trusting", "vibrant", "wizardly", "zealous", "bold"}
	nameRight = []string{"albattani", "bohr", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "jepsen", "kepler", "lovelace", "meitner", "newton", "noether", "pasteur", "ritchie", "shannon", "turing", "wozniak", "yalow"}
)

// randomName is a docker-style name for a service created without one.
func randomName() string {
	return nameLeft[rand.IntN(len(nameLeft))] + "_" + nameRight[rand.IntN(len(nameRight))]
}

// checkSpec validates a service spec and completes what the services layer derives: the digest.
func checkSpec(spec *api.ServiceSpec) error {
	if err := api.ValidateServiceSpec(spec); err != nil {
		return err
	}
	if p := spec.Task.Placement; p != nil {
		if _, err := placement.Parse(p.Constraints); err != nil {
			// swarmkit returns the parser's error as it is: docker shows it with the code Unknown.
			return api.RPCError(errdefs.ErrInvalidArgument, "Unknown", "%s", err.Error())
		}
	}
	if err := checkIngressSpec(spec); err != nil {
		return err
	}
	spec.Task.Digest = specDigest(spec)
	return nil
}

// checkReferences checks, in the transaction, that the secrets, configs and networks a spec names exist (and
// records the networks' IDs), and that its host-published ports are no other service's.
func checkReferences(ctx context.Context, tx *store.Tx, spec *api.ServiceSpec, self string) error {
	c := spec.Task.Container
	var missing []string
	for _, r := range c.Secrets {
		if _, err := store.Get[api.Secret](ctx, tx, r.SecretID); errdefs.IsNotFound(err) {
			missing = append(missing, r.SecretName)
		} else if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		what := "secret"
		if len(missing) > 1 {
			what = "secrets"
		}
		return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "%s not found: %v", what, strings.Join(missing, ", "))
	}
	for _, r := range c.Configs {
		if _, err := store.Get[api.Config](ctx, tx, r.ConfigID); errdefs.IsNotFound(err) {
			missing = append(missing, r.ConfigName)
		} else if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		what := "config"
		if len(missing) > 1 {
			what = "configs"
		}
		return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "%s not found: %v", what, strings.Join(missing, ", "))
	}
	if len(spec.Task.Networks) > 0 {
		nets, err := store.List[api.Network](ctx, tx)
		if err != nil {
			return err
		}
		for i, na := range spec.Task.Networks {
			n, err := lookupNamed(nets, na.Target, "network", func(n *api.Network) string { return n.Spec.Name })
			if err != nil {
				return err
			}
			spec.Task.Networks[i].Target = n.ID
		}
		spec.Task.Digest = specDigest(spec)
	}
	if err := checkIngressNetwork(ctx, tx, spec); err != nil {
		return err
	}
	var ports []api.PortSpec
	if spec.Endpoint != nil {
		for _, p := range spec.Endpoint.Ports {
			if p.PublishedPort != 0 {
				ports = append(ports, p)
			}
		}
	}
	if len(ports) == 0 {
		return nil
	}
	services, err := store.List[api.Service](ctx, tx)
	if err != nil {
		return err
	}
	for _, s := range services {
		if s.ID == self {
			continue
		}
		for _, have := range publishedPorts(s) {
			for _, want := range ports {
				if have.PublishedPort == want.PublishedPort && protoOf(have) == protoOf(want) {
					mode := "a host-published port"
					if have.PublishMode != "host" {
						mode = "an ingress port"
					}
					return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "port '%d' is already in use by service '%s' (%s) as %s", want.PublishedPort, s.Spec.Name, s.ID, mode)
				}
			}
		}
	}
	return nil
}

func protoOf(p api.PortSpec) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

// lookupNamed finds an object by full ID, then name, then ID prefix, as moby's getService and getNetwork.
func lookupNamed[T any, P interface {
	*T
	api.Object
}](objs []P, ref, kind string, name func(P) string) (P, error) {
	for _, o := range objs {
		if o.GetID() == ref {
			return o, nil
		}
	}
	var matches []P
	for _, o := range objs {
		if name(o) == ref {
			matches = append(matches, o)
		}
	}
	if len(matches) == 0 && ref != "" {
		for _, o := range objs {
			if strings.HasPrefix(o.GetID(), ref) {
				matches = append(matches, o)
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, notFound(kind, ref)
	case 1:
		return matches[0], nil
	}
	return nil, invalid("%s %s is ambiguous (%d matches found)", kind, ref, len(matches))
}

func serviceName(s *api.Service) string { return s.Spec.Name }

func lookupService(ctx context.Context, r store.Reader, ref string) (*api.Service, error) {
	if s, err := store.Get[api.Service](ctx, r, ref); err == nil {
		return s, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	if s, err := store.GetByName[api.Service](ctx, r, ref); err == nil {
		return s, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	services, err := store.List[api.Service](ctx, r)
	if err != nil {
		return nil, err
	}
	return lookupNamed(services, ref, "service", serviceName)
}

// CreateService checks a spec and stores a new service; it returns the service's ID.
func (c *Cluster) CreateService(ctx context.Context, spec api.ServiceSpec, encodedAuth string) (string, error) {
	m, err := c.managerStore()
	if err != nil {
		return "", err
	}
	id, err := createService(ctx, m.Store(), spec, encodedAuth)
	if err == nil {
		c.log.Info("service created", "service", id, "name", spec.Name)
	}
	return id, err
}

func createService(ctx context.Context, st *store.Store, spec api.ServiceSpec, encodedAuth string) (string, error) {
	if spec.Name == "" {
		spec.Name = randomName()
	}
	if encodedAuth != "" && spec.Task.Container != nil {
		spec.Task.Container.PullOptions = &api.PullOptions{RegistryAuth: encodedAuth}
	}
	if err := checkSpec(&spec); err != nil {
		return "", err
	}
	svc := &api.Service{ID: api.NewID(), Spec: spec}
	if spec.Mode == api.ModeReplicatedJob || spec.Mode == api.ModeGlobalJob {
		svc.LastExecution = time.Now().UTC()
	}
	err := st.Update(ctx, func(tx *store.Tx) error {
		if err := checkReferences(ctx, tx, &svc.Spec, ""); err != nil {
			return err
		}
		svc.Endpoint = nil // a retried transaction allocates afresh
		if err := reconcileVIPs(ctx, tx, svc); err != nil {
			return err
		}
		return store.Create(tx, svc)
	})
	if errdefs.IsAlreadyExists(err) {
		return "", api.RPCError(errdefs.ErrAlreadyExists, "AlreadyExists", "name conflicts with an existing object: service %s already exists", spec.Name)
	}
	if err != nil {
		return "", err
	}
	return svc.ID, nil
}

// Services lists the services that pass f (docker's: id, label, mode, name), with their task counts when
// status is set.
func (c *Cluster) Services(ctx context.Context, f filters.Args, status bool) ([]Service, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	if err := f.Validate("id", "label", "mode", "name", "runtime"); err != nil {
		return nil, err
	}
	v, err := m.Store().View(ctx)
	if err != nil {
		return nil, err
	}
	services, err := store.List[api.Service](ctx, v)
	if err != nil {
		return nil, err
	}
	out := []Service{}
	for _, s := range services {
		if ids := f.Get("id"); len(ids) > 0 && !anyPrefix(s.ID, ids) {
			continue
		}
		if names := f.Get("name"); len(names) > 0 && !anyPrefix(s.Spec.Name, names) {
			continue
		}
		if f.Contains("mode") && !f.ExactMatch("mode", string(s.Spec.Mode)) {
			continue
		}
		if !f.MatchKVList("label", s.Spec.Labels) {
			continue
		}
		if rts := f.Get("runtime"); len(rts) > 0 && !contains(rts, "container") {
			continue
		}
		out = append(out, Service{Service: s})
	}
	if status && len(out) > 0 {
		tasks, err := store.List[api.Task](ctx, v)
		if err != nil {
			return nil, err
		}
		byService := map[string][]*api.Task{}
		for _, t := range tasks {
			byService[t.ServiceID] = append(byService[t.ServiceID], t)
		}
		for i := range out {
			out[i].Status = serviceStatus(out[i].Service, byService[out[i].ID])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// serviceStatus counts a service's tasks as swarmkit's ListServiceStatuses.
func serviceStatus(s *api.Service, tasks []*api.Task) *ServiceStatus {
	st := &ServiceStatus{}
	job := s.Spec.Mode == api.ModeReplicatedJob || s.Spec.Mode == api.ModeGlobalJob
	global := s.Spec.Mode == api.ModeGlobal || s.Spec.Mode == api.ModeGlobalJob
	switch s.Spec.Mode {
	case api.ModeReplicated:
		if s.Spec.Replicas != nil {
			st.Desired = *s.Spec.Replicas
		}
	case api.ModeReplicatedJob:
		st.Desired, _ = jobCounts(&s.Spec)
	}
	for _, t := range tasks {
		if job {
			if t.JobIteration != s.JobIteration {
				continue
			}
			if t.Status.State == api.TaskComplete {
				st.Completed++
			}
		}
		if t.Status.State == api.TaskRunning {
			st.Running++
		}
		if global && t.DesiredState == api.TaskRunning {
			st.Desired++
		}
		if global && t.Status.State != api.TaskComplete && t.DesiredState == api.TaskComplete {
			st.Desired++
		}
	}
	return st
}

// Service is one service by ID, name or ID prefix.
func (c *Cluster) Service(ctx context.Context, ref string) (Service, error) {
	m, err := c.managerStore()
	if err != nil {
		return Service{}, err
	}
	s, err := lookupService(ctx, m.Store(), ref)
	if err != nil {
		return Service{}, err
	}
	return Service{Service: s}, nil
}

// UpdateService replaces a service's spec at version (the one the caller read), or rolls it back to its
// previous spec, as swarmkit's UpdateService.
func (c *Cluster) UpdateService(ctx context.Context, ref string, version uint64, spec api.ServiceSpec, opts ServiceUpdateOptions) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	id, err := updateService(ctx, m.Store(), ref, version, spec, opts)
	if err == nil {
		c.log.Info("service updated", "service", id, "rollback", opts.Rollback == "previous")
	}
	return err
}

func updateService(ctx context.Context, st *store.Store, ref string, version uint64, spec api.ServiceSpec, opts ServiceUpdateOptions) (string, error) {
	rollback := false
	switch opts.Rollback {
	case "", "none":
	case "previous":
		rollback = true
	default:
		return "", invalid("unrecognized rollback option %s", opts.Rollback)
	}
	if !rollback {
		if err := checkSpec(&spec); err != nil {
			return "", err
		}
	}
	var id string
	err := st.Update(ctx, func(tx *store.Tx) error {
		svc, err := lookupService(ctx, tx, ref)
		if err != nil {
			return err
		}
		id = svc.ID
		if svc.Version != version {
			return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
		}
		now := time.Now().UTC()
		if rollback {
			if svc.PreviousSpec == nil {
				return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "service %s does not have a previous spec", svc.ID)
			}
			cur, curVersion := svc.Spec, svc.SpecVersion
			svc.Spec, svc.SpecVersion = *svc.PreviousSpec, svc.PreviousSpecVersion
			svc.PreviousSpec, svc.PreviousSpecVersion = &cur, curVersion
			svc.UpdateStatus = &api.UpdateStatus{State: "rollback_started", Message: "manually requested rollback", StartedAt: now}
		} else {
			next := spec
			if next.Mode != svc.Spec.Mode {
				return api.RPCError(errdefs.ErrNotImplemented, "Unimplemented", "service mode change is not allowed")
			}
			if next.Name != svc.Spec.Name {
				return api.RPCError(errdefs.ErrNotImplemented, "Unimplemented", "renaming services is not supported")
			}
			if err := pullOptions(&next, svc, opts); err != nil {
				return err
			}
			next.Task.Digest = specDigest(&next)
			if err := checkReferences(ctx, tx, &next, svc.ID); err != nil {
				return err
			}
			prev := svc.Spec
			svc.PreviousSpec, svc.PreviousSpecVersion = &prev, svc.SpecVersion
			svc.Spec, svc.SpecVersion = next, svc.Version
			svc.UpdateStatus = nil
		}
		if svc.Spec.Mode == api.ModeReplicatedJob || svc.Spec.Mode == api.ModeGlobalJob {
			// Every update of a job runs it again.
			svc.JobIteration++
			svc.LastExecution = now
		}
		if err := reconcileVIPs(ctx, tx, svc); err != nil {
			return err
		}
		return store.Put(tx, svc)
	})
	if errdefs.IsConflict(err) && !strings.Contains(err.Error(), "update out of sequence") {
		return "", api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
	}
	return id, err
}

// pullOptions carries the registry credentials into an updated spec: the ones sent, or those of the current
// or previous spec (registryAuthFrom), as moby does.
func pullOptions(next *api.ServiceSpec, cur *api.Service, opts ServiceUpdateOptions) error {
	nc := next.Task.Container
	if nc == nil {
		return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "TaskSpec: missing runtime")
	}
	if opts.EncodedAuth != "" {
		nc.PullOptions = &api.PullOptions{RegistryAuth: opts.EncodedAuth}
		return nil
	}
	var from *api.ContainerSpec
	switch opts.RegistryAuthFrom {
	case "", "spec":
		from = cur.Spec.Task.Container
	case "previous-spec":
		if cur.PreviousSpec == nil {
			return invalid("service does not have a previous spec")
		}
		from = cur.PreviousSpec.Task.Container
	default:
		return invalid("unsupported registryAuthFrom value")
	}
	if from != nil && from.PullOptions != nil {
		po := *from.PullOptions
		nc.PullOptions = &po
	} else {
		nc.PullOptions = nil
	}
	return nil
}

// RemoveService removes a service; the orchestrator then stops and removes its tasks.
func (c *Cluster) RemoveService(ctx context.Context, ref string) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	id, err := removeService(ctx, m.Store(), ref)
	if err == nil {
		c.log.Info("service removed", "service", id)
	}
	return err
}

func removeService(ctx context.Context, st *store.Store, ref string) (string, error) {
	var id string
	err := st.Update(ctx, func(tx *store.Tx) error {
		svc, err := lookupService(ctx, tx, ref)
		if err != nil {
			return err
		}
		id = svc.ID
		if err := releaseVIPs(ctx, tx, svc); err != nil {
			return err
		}
		return store.Delete(tx, api.KindService, svc.ID)
	})
	return id, err
}

// taskUpToDate reports whether a task is of its service's current spec (the `_up-to-date` filter, swarmkit's
// !IsTaskDirty without the node's constraints).
func taskUpToDate(s *api.Service, t *api.Task) bool {
	if t.SpecVersion == s.SpecVersion {
		return true
	}
	want, have := &s.Spec.Task, &t.Spec
	return want.Digest == have.Digest && want.ForceUpdate == have.ForceUpdate &&
		reflect.DeepEqual(want.RestartPolicy, have.RestartPolicy) && reflect.DeepEqual(want.Resources, have.Resources) &&
		reflect.DeepEqual(want.Placement, have.Placement)
}

// LogsOptions select task logs.
type LogsOptions struct {
	Follow         bool
	Tail           int64 // negative: all
	Since          time.Time
	Stdout, Stderr bool
}

// ServiceLogs streams the logs of a service's tasks, merged across its nodes; TaskLogs one task's. Each
// message names its task, service and node.
func (c *Cluster) ServiceLogs(ctx context.Context, ref string, opts LogsOptions) (<-chan api.LogMessage, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	s, err := lookupService(ctx, m.Store(), ref)
	if err != nil {
		return nil, err
	}
	tasks, err := store.List[api.Task](ctx, m.Store())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range tasks {
		if t.ServiceID == s.ID {
			ids = append(ids, t.ID)
		}
	}
	sub := logSubscription(ids, opts)
	sub.ServiceID = s.ID
	return c.subscribeLogs(ctx, sub)
}

// TaskLogs streams one task's logs.
func (c *Cluster) TaskLogs(ctx context.Context, ref string, opts LogsOptions) (<-chan api.LogMessage, error) {
	t, err := c.Task(ctx, ref)
	if err != nil {
		return nil, err
	}
	return c.subscribeLogs(ctx, logSubscription([]string{t.ID}, opts))
}

func logSubscription(ids []string, o LogsOptions) api.LogSubscription {
	return api.LogSubscription{TaskIDs: ids, Follow: o.Follow, Tail: o.Tail, Since: o.Since, Stdout: o.Stdout, Stderr: o.Stderr}
}
