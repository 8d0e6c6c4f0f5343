package ec2api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// runParams are the RunInstances parameters Berth takes; unsupported are those EC2 takes and Berth refuses
// (UnsupportedOperation rather than silently ignoring what a user asked for).
var runParams = []string{"ImageId", "InstanceType", "KeyName", "MinCount", "MaxCount", "UserData", "ClientToken",
	"SecurityGroupId.N", "SecurityGroup.N", tagSpecParams,
	"Placement.AvailabilityZone", "Placement.Tenancy", "Placement.GroupName",
	"BlockDeviceMapping.N.DeviceName", "BlockDeviceMapping.N.Ebs.VolumeSize", "BlockDeviceMapping.N.Ebs.VolumeType",
	"BlockDeviceMapping.N.Ebs.DeleteOnTermination", "BlockDeviceMapping.N.Ebs.Encrypted", "BlockDeviceMapping.N.Ebs.Iops",
	"BlockDeviceMapping.N.Ebs.Throughput", "BlockDeviceMapping.N.NoDevice", "BlockDeviceMapping.N.VirtualName",
	"BlockDeviceMapping.N.Ebs.SnapshotId", "BlockDeviceMapping.N.Ebs.KmsKeyId",
	"Monitoring.Enabled", "EbsOptimized", "InstanceInitiatedShutdownBehavior", "DisableApiTermination",
	"DisableApiStop", "CreditSpecification.CpuCredits"}

// runUnsupported are the prefixes of RunInstances parameters EC2 takes and Berth does not.
var runUnsupported = []string{"SubnetId", "PrivateIpAddress", "NetworkInterface", "Ipv6Address", "Ipv6AddressCount",
	"IamInstanceProfile", "KernelId", "RamdiskId", "LaunchTemplate", "InstanceMarketOptions", "CpuOptions",
	"HibernationOptions", "MetadataOptions", "EnclaveOptions", "LicenseSpecification", "ElasticGpuSpecification",
	"ElasticInferenceAccelerator", "CapacityReservationSpecification", "PrivateDnsNameOptions", "MaintenanceOptions",
	"Operator", "SecondaryInterface", "AdditionalInfo", "EnablePrimaryIpv6", "NetworkPerformanceOptions"}

// runInput is a checked RunInstances request.
type runInput struct {
	AMI         string
	Type        string
	KeyName     string
	Groups      []string // IDs and names
	UserData    []byte
	MinCount    int
	MaxCount    int
	Tags        map[string]string
	DiskGiB     int
	ClientToken string
}

// maxUserData is EC2's limit on user data, before base64.
const maxUserData = 16 << 10

// parseRunInstances reads and checks a RunInstances request (its references are checked against the backend
// later). zone is the service's availability zone.
func parseRunInstances(f form, zone string) (runInput, error) {
	var in runInput
	if err := f.unsupported(runUnsupported); err != nil {
		return in, err
	}
	if in.AMI = f.get("ImageId"); in.AMI == "" {
		return in, errMissing("ImageId")
	}
	min, hasMin, err := f.integer("MinCount")
	if err != nil {
		return in, err
	}
	max, hasMax, err := f.integer("MaxCount")
	if err != nil {
		return in, err
	}
	switch {
	case !hasMin:
		return in, errMissing("MinCount")
	case !hasMax:
		return in, errMissing("MaxCount")
	case min < 1:
		return in, errInvalidValue("Value (%d) for parameter minCount is invalid. Expected a positive integer.", min)
	case max < 1:
		return in, errInvalidValue("Value (%d) for parameter maxCount is invalid. Expected a positive integer.", max)
	case min > max:
		return in, errInvalidValue("Value (%d) for parameter maxCount is invalid. Expected a value greater than or equal to minCount (%d).", max, min)
	}
	in.MinCount, in.MaxCount = min, max
	in.Type, in.KeyName = f.get("InstanceType"), f.get("KeyName")
	in.Groups = append(f.list("SecurityGroupId"), f.list("SecurityGroup")...)
	if ud := f.get("UserData"); ud != "" {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ud))
		if err != nil {
			return in, errInvalidValue("Invalid BASE64 encoding of user data.")
		}
		if len(raw) > maxUserData {
			return in, errInvalidValue("User data is limited to %d bytes", maxUserData)
		}
		in.UserData = raw
	}
	if in.ClientToken = f.get("ClientToken"); len(in.ClientToken) > 64 {
		return in, errInvalidValue("Value for parameter ClientToken is too long (at most 64 characters)")
	}
	specs, err := f.tagSpecs([]string{"instance"}, "volume", "network-interface")
	if err != nil {
		return in, err
	}
	in.Tags = specs["instance"]
	if az := f.get("Placement.AvailabilityZone"); az != "" && az != zone {
		return in, errInvalidValue("Invalid availability zone: [%s]", az)
	}
	if t := f.get("Placement.Tenancy"); t != "" && t != "default" {
		return in, errUnsupported("Berth's instances run on shared hosts: tenancy %s is not supported.", t)
	}
	if g := f.get("Placement.GroupName"); g != "" {
		return in, Errorf("InvalidPlacementGroup.Unknown", "The Placement Group '%s' is unknown.", g)
	}
	if in.DiskGiB, err = rootVolume(f); err != nil {
		return in, err
	}
	for _, p := range []struct{ name, ok string }{
		{"Monitoring.Enabled", "false"}, {"DisableApiTermination", "false"}, {"DisableApiStop", "false"},
		{"InstanceInitiatedShutdownBehavior", "stop"},
	} {
		if v := f.get(p.name); v != "" && !strings.EqualFold(v, p.ok) {
			return in, errUnsupported("Berth's EC2 does not support %s=%s.", p.name, v)
		}
	}
	if _, err := f.boolean("EbsOptimized"); err != nil { // a performance hint, without meaning for a local disk
		return in, err
	}
	return in, nil
}

// rootVolume reads the block device mappings: Berth's instances have one disk, their root volume; a mapping
// may size it.
func rootVolume(f form) (int, error) {
	size := 0
	for _, p := range f.indices("BlockDeviceMapping") {
		dev := f.get(p + ".DeviceName")
		if dev == "" {
			return 0, errMissing("BlockDeviceMapping.DeviceName")
		}
		if dev != rootDevice && dev != "/dev/sda1" {
			return 0, errUnsupported("Berth's instances have one disk, their root volume (%s): the device %s is not supported.", rootDevice, dev)
		}
		for _, x := range []string{".NoDevice", ".VirtualName", ".Ebs.SnapshotId", ".Ebs.KmsKeyId"} {
			if f.has(p + x) {
				return 0, errUnsupported("Berth's EC2 does not support the parameter %s.", p+x)
			}
		}
		if v := f.get(p + ".Ebs.DeleteOnTermination"); v != "" && !strings.EqualFold(v, "true") {
			return 0, errUnsupported("A Berth instance's root volume is deleted with it: DeleteOnTermination=false is not supported.")
		}
		if v := f.get(p + ".Ebs.Encrypted"); v != "" && !strings.EqualFold(v, "false") {
			return 0, errUnsupported("Berth's EC2 does not encrypt volumes: Encrypted=true is not supported.")
		}
		n, ok, err := f.integer(p + ".Ebs.VolumeSize")
		if err != nil {
			return 0, err
		}
		if ok {
			if n < 1 || n > 16384 {
				return 0, errInvalidValue("Volume of %dGiB is out of range: the size must be between 1 and 16384 GiB.", n)
			}
			size = n
		}
	}
	return size, nil
}

func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

func (s *Service) runInstances(c *call) (response, error) {
	in, err := parseRunInstances(c.f, s.zone())
	if err != nil {
		return nil, err
	}
	img, err := s.findImage(c, in.AMI)
	if err != nil {
		return nil, err
	}
	types, err := s.b.InstanceTypes(c.ctx)
	if err != nil {
		return nil, err
	}
	if in.Type != "" {
		if _, ok := findType(types, in.Type); !ok {
			return nil, errInvalidValue("Invalid value '%s' for InstanceType.", in.Type)
		}
	}
	if in.KeyName != "" {
		keys, err := s.b.KeyPairs(c.ctx)
		if err != nil {
			return nil, err
		}
		if _, ok := findKey(keys, in.KeyName); !ok {
			return nil, errKeyPairNotFound(in.KeyName)
		}
	}
	if len(in.Groups) > 0 {
		groups, err := s.b.SecurityGroups(c.ctx)
		if err != nil {
			return nil, err
		}
		for _, ref := range in.Groups {
			if strings.HasPrefix(ref, "sg-") && !groupIDPattern.MatchString(ref) {
				return nil, errGroupMalformed(ref)
			}
			if _, ok := findGroup(groups, ref); !ok {
				return nil, errGroupNotFound(ref)
			}
		}
	}
	if in.MinCount > s.maxCount {
		return nil, Errorf(CodeInstanceLimitExceeded, "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type.", in.MinCount, s.maxCount)
	}
	if err := c.dry(); err != nil {
		return nil, err
	}

	s.runMu.Lock()
	defer s.runMu.Unlock()
	all, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, err
	}
	if in.ClientToken != "" {
		var prior []Instance
		for _, inst := range all {
			if inst.ClientToken == in.ClientToken && !s.failed[inst.ReservationID] {
				prior = append(prior, inst)
			}
		}
		if len(prior) > 0 {
			if prior[0].ImageID != img.ID || (in.Type != "" && prior[0].Type != in.Type) || prior[0].KeyName != in.KeyName {
				return nil, Errorf(CodeIdempotentParameterMismatch, "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
			}
			return s.reservationResponse(c, prior[0].ReservationID, prior, types)
		}
	}
	reservation := newID("r")
	var launched []Instance
	// A launch is not canceled with its request: a client that gave up (the CLI reads for 60 s, and a new image's
	// first disk may take longer) retries with the same client token and gets what this launched.
	ctx := context.WithoutCancel(c.ctx)
	for i := 0; i < min(in.MaxCount, s.maxCount); i++ {
		inst, warnings, err := s.b.Run(ctx, RunOptions{ImageID: img.ID, Type: in.Type, KeyName: in.KeyName,
			SecurityGroups: in.Groups, UserData: in.UserData, Tags: in.Tags, DiskGiB: in.DiskGiB,
			ReservationID: reservation, LaunchIndex: i, ClientToken: in.ClientToken})
		for _, w := range warnings {
			s.log.WarnContext(c.ctx, "RunInstances: "+w, "reservation", reservation)
		}
		if err != nil {
			if len(launched) >= in.MinCount {
				s.log.WarnContext(c.ctx, "RunInstances launched fewer than MaxCount instances", "reservation", reservation,
					"launched", len(launched), "max_count", in.MaxCount, "error", err)
				break
			}
			// Fewer than MinCount: EC2 launches none, so the ones launched go, and a retry with the same client
			// token launches anew rather than finding them.
			s.markFailed(reservation)
			for _, l := range launched {
				if terr := s.b.Terminate(ctx, l.ID); terr != nil {
					s.log.ErrorContext(c.ctx, "RunInstances: terminating an instance of a failed launch", "instance", l.ID, "error", terr)
				}
			}
			return nil, err
		}
		launched = append(launched, inst)
	}
	return s.reservationResponse(c, reservation, launched, types)
}

func (s *Service) reservationResponse(c *call, reservation string, insts []Instance, types []InstanceType) (response, error) {
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, err
	}
	v := s.views(c, groupNames(groups), types)
	resp := &runInstancesResponse{wireReservation: wireReservation{ReservationID: reservation, OwnerID: c.owner(),
		GroupSet: items[wireGroupID]{}, InstancesSet: items[wireInstance]{}}}
	for _, inst := range insts {
		resp.InstancesSet = append(resp.InstancesSet, s.wireInstance(v(inst)))
	}
	return resp, nil
}

func findType(types []InstanceType, name string) (InstanceType, bool) {
	for _, t := range types {
		if t.Name == name {
			return t, true
		}
	}
	return InstanceType{}, false
}

// maxFailed bounds the failed reservations remembered (in memory: after a restart, a retry of a launch that
// failed before it finds the failed launch's terminated instances).
const maxFailed = 1024

// markFailed remembers a reservation whose launch failed; the caller holds runMu.
func (s *Service) markFailed(reservation string) {
	if s.failed == nil {
		s.failed = map[string]bool{}
	}
	if len(s.failedOrder) == maxFailed {
		delete(s.failed, s.failedOrder[0])
		s.failedOrder = s.failedOrder[1:]
	}
	s.failed[reservation] = true
	s.failedOrder = append(s.failedOrder, reservation)
}
