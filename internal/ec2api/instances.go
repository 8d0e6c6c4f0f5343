package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// instView is an instance with what the API shows of it besides the backend's record.
type instView struct {
	Instance
	ami, owner, zone, arch, reservation string
	groupNames                          map[string]string
	vcpus                               int
}

// views returns a function making instance views with the caller's account, the group names and the types.
func (s *Service) views(c *call, names map[string]string, types []InstanceType) func(Instance) instView {
	return func(inst Instance) instView {
		v := instView{Instance: inst, ami: AMIID(inst.ImageID), owner: c.owner(), zone: s.zone(), arch: s.arch,
			reservation: inst.ReservationID, groupNames: names, vcpus: 1}
		if v.reservation == "" {
			sum := sha256.Sum256([]byte("reservation/" + inst.ID))
			v.reservation = "r-" + hex.EncodeToString(sum[:])[:17]
		}
		if t, ok := findType(types, inst.Type); ok && t.VCPUs > 0 {
			v.vcpus = t.VCPUs
		}
		return v
	}
}

// reasonCode splits a state reason "Code: message" into EC2's stateReason.
func reasonCode(reason string) (code, msg string) {
	if reason == "" {
		return "", ""
	}
	code, _, ok := strings.Cut(reason, ": ")
	if !ok || strings.ContainsAny(code, " ") {
		return "Server.InternalError", reason
	}
	return code, reason
}

func (s *Service) wireInstance(v instView) wireInstance {
	w := wireInstance{InstanceID: v.ID, ImageID: v.ami, State: stateOf(v.State), KeyName: v.KeyName,
		AmiLaunchIndex: v.LaunchIndex, ProductCodes: items[struct{}]{}, InstanceType: v.Type, LaunchTime: wireTime(v.LaunchTime),
		Placement: wirePlacement{AvailabilityZone: v.zone, Tenancy: "default"}, Monitoring: wireMonitoring{State: "disabled"},
		GroupSet: items[wireGroupID]{}, Architecture: v.arch, RootDeviceType: "ebs", RootDeviceName: rootDevice,
		BlockDeviceMapping: items[wireInstanceBDM]{}, VirtualizationType: "hvm", ClientToken: v.ClientToken,
		TagSet: wireTags(v.Tags), Hypervisor: v.Accel, CPUOptions: wireCPUOptions{CoreCount: v.vcpus, ThreadsPerCore: 1},
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances"}
	if v.PrivateIP.IsValid() {
		w.PrivateIPAddress = v.PrivateIP.String()
	}
	if v.PublicIP.IsValid() {
		w.IPAddress = v.PublicIP.String()
	}
	for _, g := range v.SecurityGroups {
		w.GroupSet = append(w.GroupSet, wireGroupID{GroupID: g, GroupName: v.groupNames[g]})
	}
	if code, msg := reasonCode(v.StateReason); code != "" {
		w.StateReason = &wireStateReason{Code: code, Message: msg}
		if v.State == Stopped || v.State == Stopping || v.State == Terminated || v.State == ShuttingDown {
			w.Reason = msg
		}
	}
	return w
}

var instanceFilters = filterSpec[instView]{
	fields: map[string]func(instView) []string{
		"instance-id":         one(func(v instView) string { return v.ID }),
		"instance-state-name": one(func(v instView) string { return string(v.State) }),
		"instance-state-code": one(func(v instView) string { return strconv.Itoa(v.State.Code()) }),
		"instance-type":       one(func(v instView) string { return v.Type }),
		"image-id":            one(func(v instView) string { return v.ami }),
		"key-name":            one(func(v instView) string { return v.KeyName }),
		"private-ip-address": func(v instView) []string {
			if v.PrivateIP.IsValid() {
				return []string{v.PrivateIP.String()}
			}
			return nil
		},
		"ip-address": func(v instView) []string {
			if v.PublicIP.IsValid() {
				return []string{v.PublicIP.String()}
			}
			return nil
		},
		"availability-zone":   one(func(v instView) string { return v.zone }),
		"architecture":        one(func(v instView) string { return v.arch }),
		"hypervisor":          one(func(v instView) string { return v.Accel }),
		"launch-time":         one(func(v instView) string { return wireTime(v.LaunchTime) }),
		"launch-index":        one(func(v instView) string { return strconv.Itoa(v.LaunchIndex) }),
		"reservation-id":      one(func(v instView) string { return v.reservation }),
		"client-token":        one(func(v instView) string { return v.ClientToken }),
		"owner-id":            one(func(v instView) string { return v.owner }),
		"requester-id":        one(func(v instView) string { return v.owner }),
		"root-device-type":    one(func(instView) string { return "ebs" }),
		"root-device-name":    one(func(instView) string { return rootDevice }),
		"virtualization-type": one(func(instView) string { return "hvm" }),
		"platform-details":    one(func(instView) string { return "Linux/UNIX" }),
		"tenancy":             one(func(instView) string { return "default" }),
		"monitoring-state":    one(func(instView) string { return "disabled" }),
		"state-reason-code": func(v instView) []string {
			code, _ := reasonCode(v.StateReason)
			return []string{code}
		},
		"state-reason-message": func(v instView) []string {
			_, msg := reasonCode(v.StateReason)
			return []string{msg}
		},
		"instance.group-id":   func(v instView) []string { return v.SecurityGroups },
		"group-id":            func(v instView) []string { return v.SecurityGroups },
		"instance.group-name": instanceGroupNames,
		"group-name":          instanceGroupNames,
	},
	tags: func(v instView) map[string]string { return v.Tags },
}

func instanceGroupNames(v instView) []string {
	var out []string
	for _, g := range v.SecurityGroups {
		out = append(out, v.groupNames[g])
	}
	return out
}

// instanceIDs reads InstanceId.N and checks that each is well formed.
func instanceIDs(f form) ([]string, error) {
	ids := f.list("InstanceId")
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return nil, errInstanceMalformed(id)
		}
	}
	return ids, nil
}

// pick returns the instances ids names (in the order the backend lists them), or InvalidInstanceID.NotFound
// naming the missing ones; all of them when ids is empty.
func pick(all []Instance, ids []string) ([]Instance, error) {
	if len(ids) == 0 {
		return all, nil
	}
	byID := map[string]Instance{}
	for _, inst := range all {
		byID[inst.ID] = inst
	}
	var missing []string
	for _, id := range ids {
		if _, ok := byID[id]; !ok && !contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errInstancesNotFound(missing)
	}
	var out []Instance
	for _, inst := range all {
		if contains(ids, inst.ID) {
			out = append(out, inst)
		}
	}
	return out, nil
}

// instanceContext gathers what describing instances needs: the instances, the group names, the types.
func (s *Service) instanceContext(c *call) ([]Instance, func(Instance) instView, error) {
	all, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, nil, err
	}
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, nil, err
	}
	types, err := s.b.InstanceTypes(c.ctx)
	if err != nil {
		return nil, nil, err
	}
	return all, s.views(c, groupNames(groups), types), nil
}

// describedInstances is the part DescribeInstances and DescribeInstanceStatus share: their filters compiled
// against spec, the instance IDs (which cannot be combined with MaxResults), paging (5 to 1000 a page), the
// caller's instances picked by ID, the dry run, and the page of views that pass the filters and keep.
func (s *Service) describedInstances(c *call, spec filterSpec[instView], keep func(instView) bool) (page []instView, next string, err error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, "", err
	}
	match, err := spec.compile(filters)
	if err != nil {
		return nil, "", err
	}
	ids, err := instanceIDs(c.f)
	if err != nil {
		return nil, "", err
	}
	if len(ids) > 0 && c.f.has("MaxResults") {
		return nil, "", Errorf(CodeInvalidParameterCombination, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	pg, err := c.f.paging(5, 1000)
	if err != nil {
		return nil, "", err
	}
	all, view, err := s.instanceContext(c)
	if err != nil {
		return nil, "", err
	}
	sel, err := pick(all, ids)
	if err != nil {
		return nil, "", err
	}
	if err := c.dry(); err != nil {
		return nil, "", err
	}
	var matched []instView
	for _, inst := range sel {
		if v := view(inst); keep(v) && match(v) {
			matched = append(matched, v)
		}
	}
	lo, hi, next := pg.bounds(len(matched))
	return matched[lo:hi], next, nil
}

func (s *Service) describeInstances(c *call) (response, error) {
	page, next, err := s.describedInstances(c, instanceFilters, func(instView) bool { return true })
	if err != nil {
		return nil, err
	}
	resp := &describeInstancesResponse{ReservationSet: items[wireReservation]{}, NextToken: next}
	index := map[string]int{}
	for _, v := range page {
		i, ok := index[v.reservation]
		if !ok {
			i = len(resp.ReservationSet)
			index[v.reservation] = i
			resp.ReservationSet = append(resp.ReservationSet, wireReservation{ReservationID: v.reservation, OwnerID: v.owner,
				GroupSet: items[wireGroupID]{}, InstancesSet: items[wireInstance]{}})
		}
		resp.ReservationSet[i].InstancesSet = append(resp.ReservationSet[i].InstancesSet, s.wireInstance(v))
	}
	return resp, nil
}

// instanceStatus is an instance's status checks: its guest answered (running: ok), or there is nothing to check.
func instanceStatus(v instView) string {
	if v.State == Running {
		return "ok"
	}
	return "not-applicable"
}

var statusFilters = filterSpec[instView]{
	fields: map[string]func(instView) []string{
		"availability-zone":            one(func(v instView) string { return v.zone }),
		"instance-state-name":          one(func(v instView) string { return string(v.State) }),
		"instance-state-code":          one(func(v instView) string { return strconv.Itoa(v.State.Code()) }),
		"instance-status.status":       one(instanceStatus),
		"system-status.status":         one(instanceStatus),
		"instance-status.reachability": one(func(v instView) string { return reachability(instanceStatus(v)) }),
		"system-status.reachability":   one(func(v instView) string { return reachability(instanceStatus(v)) }),
	},
}

func reachability(status string) string {
	if status == "ok" {
		return "passed"
	}
	return ""
}

func (s *Service) describeInstanceStatus(c *call) (response, error) {
	includeAll, err := c.f.boolean("IncludeAllInstances")
	if err != nil {
		return nil, err
	}
	page, next, err := s.describedInstances(c, statusFilters, func(v instView) bool { return includeAll || v.State == Running })
	if err != nil {
		return nil, err
	}
	resp := &describeInstanceStatusResponse{InstanceStatusSet: items[wireInstanceStatus]{}, NextToken: next}
	for _, v := range page {
		st := instanceStatus(v)
		sum := wireStatusSummary{Status: st, Details: items[wireStatusDetail]{}}
		if r := reachability(st); r != "" {
			sum.Details = append(sum.Details, wireStatusDetail{Name: "reachability", Status: r})
		}
		resp.InstanceStatusSet = append(resp.InstanceStatusSet, wireInstanceStatus{InstanceID: v.ID, AvailabilityZone: v.zone,
			EventsSet: items[struct{}]{}, InstanceState: stateOf(v.State), SystemStatus: sum, InstanceStatus: sum})
	}
	return resp, nil
}

// transition is one of Start, Stop, Reboot and Terminate: allowed says from which states the backend may be
// asked (EC2's IncorrectInstanceState otherwise, before any instance changes), verb words the refusal.
type transition struct {
	verb    string
	allowed []State
	run     func(ctx context.Context, id string) error
}

// changeStates applies a transition to the instances a request names: it checks every ID and state first (all
// or nothing, as EC2 refuses the whole request), then runs the backend's calls detached from the request and
// answers with each instance's previous state and the one it is in after at most the settle time.
func (s *Service) changeStates(c *call, t transition) ([]wireStateChange, error) {
	ids, err := instanceIDs(c.f)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errMissing("InstanceId")
	}
	all, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, err
	}
	sel, err := pick(all, ids)
	if err != nil {
		return nil, err
	}
	prev := map[string]State{}
	for _, inst := range sel {
		if !contains(statesAsStrings(t.allowed), string(inst.State)) {
			return nil, Errorf(CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be %s.", inst.ID, t.verb)
		}
		prev[inst.ID] = inst.State
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	done := make(chan error, len(sel))
	for _, inst := range sel {
		s.wg.Add(1)
		go func(id string) {
			defer s.wg.Done()
			err := t.run(context.WithoutCancel(c.ctx), id)
			if err != nil {
				s.log.WarnContext(c.ctx, "instance state change failed", "action", c.action, "instance", id, "error", err)
			}
			done <- err
		}(inst.ID)
	}
	timer := time.NewTimer(s.settle)
	defer timer.Stop()
	var first error
wait:
	for range sel {
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = err
			}
		case <-timer.C:
			break wait // the rest go on in the background; the answer is the state they are in now
		}
	}
	if first != nil {
		return nil, first
	}
	after, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, err
	}
	now := map[string]State{}
	for _, inst := range after {
		now[inst.ID] = inst.State
	}
	var out []wireStateChange
	for _, inst := range sel {
		cur, ok := now[inst.ID]
		if !ok {
			cur = Terminated // a backend that forgets terminated instances at once
		}
		out = append(out, wireStateChange{InstanceID: inst.ID, CurrentState: stateOf(cur), PreviousState: stateOf(prev[inst.ID])})
	}
	return out, nil
}

func statesAsStrings(states []State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

func (s *Service) startInstances(c *call) (response, error) {
	changes, err := s.changeStates(c, transition{verb: "started", allowed: []State{Pending, Running, Stopped},
		run: func(ctx context.Context, id string) error {
			warnings, err := s.b.Start(ctx, id)
			for _, w := range warnings {
				s.log.WarnContext(ctx, "StartInstances: "+w, "instance", id)
			}
			return err
		}})
	if err != nil {
		return nil, err
	}
	return &stateChangeResponse{InstancesSet: changes}, nil
}

func (s *Service) stopInstances(c *call) (response, error) {
	force, err := c.f.boolean("Force")
	if err != nil {
		return nil, err
	}
	if h, err := c.f.boolean("Hibernate"); err != nil {
		return nil, err
	} else if h {
		return nil, errUnsupported("Berth's instances do not hibernate.")
	}
	skip, err := c.f.boolean("SkipOsShutdown")
	if err != nil {
		return nil, err
	}
	changes, err := s.changeStates(c, transition{verb: "stopped", allowed: []State{Pending, Running, Stopping, Stopped},
		run: func(ctx context.Context, id string) error { return s.b.Stop(ctx, id, force || skip, 0) }})
	if err != nil {
		return nil, err
	}
	return &stateChangeResponse{InstancesSet: changes}, nil
}

func (s *Service) rebootInstances(c *call) (response, error) {
	if _, err := s.changeStates(c, transition{verb: "rebooted", allowed: []State{Running},
		run: func(ctx context.Context, id string) error { return s.b.Reboot(ctx, id) }}); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (s *Service) terminateInstances(c *call) (response, error) {
	if _, err := c.f.boolean("Force"); err != nil {
		return nil, err
	}
	if _, err := c.f.boolean("SkipOsShutdown"); err != nil {
		return nil, err
	}
	changes, err := s.changeStates(c, transition{verb: "terminated",
		allowed: []State{Pending, Running, Stopping, Stopped, ShuttingDown, Terminated},
		run:     func(ctx context.Context, id string) error { return s.b.Terminate(ctx, id) }})
	if err != nil {
		return nil, err
	}
	return &stateChangeResponse{InstancesSet: changes}, nil
}

func (s *Service) getConsoleOutput(c *call) (response, error) {
	id := c.f.get("InstanceId")
	if id == "" {
		return nil, errMissing("InstanceId")
	}
	if !instanceIDPattern.MatchString(id) {
		return nil, errInstanceMalformed(id)
	}
	if _, err := c.f.boolean("Latest"); err != nil { // Berth's output is always the latest
		return nil, err
	}
	all, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, err
	}
	if _, err := pick(all, []string{id}); err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	out, err := s.b.ConsoleOutput(c.ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &consoleOutputResponse{InstanceID: id, Timestamp: wireTime(s.now())}
	if len(out) > 0 {
		resp.Output = base64.StdEncoding.EncodeToString(out)
	}
	return resp, nil
}

// typeFilters are DescribeInstanceTypes' filters; arch is the architecture the service's instances run as.
func typeFilters(arch string) filterSpec[InstanceType] {
	fixed := func(v string) func(InstanceType) []string { return func(InstanceType) []string { return []string{v} } }
	return filterSpec[InstanceType]{
		fields: map[string]func(InstanceType) []string{
			"instance-type":           one(func(t InstanceType) string { return t.Name }),
			"vcpu-info.default-vcpus": one(func(t InstanceType) string { return strconv.Itoa(t.VCPUs) }),
			"vcpu-info.default-cores": one(func(t InstanceType) string { return strconv.Itoa(t.VCPUs) }),
			"memory-info.size-in-mib": one(func(t InstanceType) string { return strconv.Itoa(t.MemoryMiB) }),
			"free-tier-eligible":      one(func(t InstanceType) string { return strconv.FormatBool(freeTier(t.Name)) }),
			"burstable-performance-supported": one(func(t InstanceType) string {
				return strconv.FormatBool(burstable(t.Name))
			}),
			"current-generation":                    fixed("true"),
			"bare-metal":                            fixed("false"),
			"supported-root-device-type":            fixed("ebs"),
			"supported-virtualization-type":         fixed("hvm"),
			"supported-usage-class":                 fixed("on-demand"),
			"instance-storage-supported":            fixed("false"),
			"hibernation-supported":                 fixed("false"),
			"processor-info.supported-architecture": fixed(arch),
		},
	}
}

func freeTier(name string) bool  { return name == "t2.micro" || name == "t3.micro" }
func burstable(name string) bool { return strings.HasPrefix(name, "t") }

func (s *Service) describeInstanceTypes(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	match, err := typeFilters(s.arch).compile(filters)
	if err != nil {
		return nil, err
	}
	pg, err := c.f.paging(5, 100)
	if err != nil {
		return nil, err
	}
	names := c.f.list("InstanceType")
	types, err := s.b.InstanceTypes(c.ctx)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if _, ok := findType(types, n); !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, Errorf(CodeInvalidInstanceType, "The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	var sel []InstanceType
	for _, t := range types {
		if (len(names) == 0 || contains(names, t.Name)) && match(t) {
			sel = append(sel, t)
		}
	}
	lo, hi, next := pg.bounds(len(sel))
	resp := &describeInstanceTypesResponse{InstanceTypeSet: items[wireInstanceType]{}, NextToken: next}
	for _, t := range sel[lo:hi] {
		resp.InstanceTypeSet = append(resp.InstanceTypeSet, wireInstanceType{InstanceType: t.Name, CurrentGeneration: true,
			FreeTierEligible: freeTier(t.Name), SupportedUsageClasses: items[string]{"on-demand"},
			SupportedRootDeviceTypes: items[string]{"ebs"}, SupportedVirtualizationTypes: items[string]{"hvm"},
			ProcessorInfo: wireProcessorInfo{SupportedArchitectures: items[string]{s.arch}},
			VCPUInfo:      wireVCPUInfo{DefaultVCPUs: t.VCPUs, DefaultCores: t.VCPUs, DefaultThreadsPerCore: 1},
			MemoryInfo:    wireMemoryInfo{SizeInMiB: t.MemoryMiB}, BurstablePerformanceSupported: burstable(t.Name),
			SupportedBootModes: items[string]{"legacy-bios"}})
	}
	return resp, nil
}
