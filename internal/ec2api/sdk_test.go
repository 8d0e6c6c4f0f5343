package ec2api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"
)

// The SDK is the reference client for EC2's shapes: each test drives the endpoint with aws-sdk-go-v2's ec2
// client and checks what it decoded.

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return "not an API error: " + err.Error()
}

// fast makes a waiter poll without EC2's 15 s delays (the fake moves on per listing, not per second).
func fast(minDelay, maxDelay *time.Duration) {
	*minDelay, *maxDelay = 10*time.Millisecond, 20*time.Millisecond
}

func TestSDKRegionsAndZones(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	regions, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(regions.Regions) != 1 || aws.ToString(regions.Regions[0].RegionName) != "us-east-1" ||
		aws.ToString(regions.Regions[0].Endpoint) != strings.TrimPrefix(e.srv.URL, "http://") {
		t.Fatalf("regions %+v", regions.Regions)
	}
	zones, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	z := zones.AvailabilityZones
	if len(z) != 1 || aws.ToString(z[0].ZoneName) != "us-east-1a" || aws.ToString(z[0].ZoneId) != "use1-az1" || z[0].State != types.AvailabilityZoneStateAvailable {
		t.Fatalf("zones %+v", z)
	}
	_, err = c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1b"}})
	if apiCode(err) != "InvalidParameterValue" {
		t.Fatalf("another zone: %v", err)
	}
	// A client configured for another region is told which one this endpoint serves.
	other := ec2.New(ec2.Options{Region: "eu-west-1", Credentials: e.root().Options().Credentials, BaseEndpoint: aws.String(e.srv.URL)})
	_, err = other.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if apiCode(err) != "AuthFailure" || !strings.Contains(err.Error(), "not 'eu-west-1'. This endpoint serves us-east-1.") {
		t.Fatalf("another region: %v", err)
	}
}

func TestSDKKeyPairs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()

	rsaKey, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("me"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(aws.ToString(rsaKey.KeyMaterial)))
	if err != nil || !strings.HasPrefix(aws.ToString(rsaKey.KeyMaterial), "-----BEGIN RSA PRIVATE KEY-----") {
		t.Fatalf("KeyMaterial is not a PEM RSA key (%v): %.40q", err, aws.ToString(rsaKey.KeyMaterial))
	}
	if !strings.HasPrefix(aws.ToString(rsaKey.KeyPairId), "key-") || len(rsaKey.Tags) != 1 {
		t.Fatalf("created %+v", rsaKey)
	}
	edKey, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("ed"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssh.ParsePrivateKey([]byte(aws.ToString(edKey.KeyMaterial))); err != nil {
		t.Fatalf("ed25519 key: %v", err)
	}
	_, err = c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("me")})
	if apiCode(err) != "InvalidKeyPair.Duplicate" || !strings.Contains(err.Error(), "The keypair 'me' already exists.") {
		t.Fatalf("duplicate: %v", err)
	}

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	imported, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"),
		PublicKeyMaterial: append(ssh.MarshalAuthorizedKey(sshPub)[:len(ssh.MarshalAuthorizedKey(sshPub))-1], " me@laptop\n"...)})
	if err != nil {
		t.Fatal(err)
	}

	all, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]types.KeyPairInfo{}
	for _, k := range all.KeyPairs {
		byName[aws.ToString(k.KeyName)] = k
	}
	if len(byName) != 3 || byName["me"].KeyType != types.KeyTypeRsa || byName["ed"].KeyType != types.KeyTypeEd25519 ||
		aws.ToString(byName["laptop"].KeyPairId) != aws.ToString(imported.KeyPairId) || byName["me"].CreateTime == nil {
		t.Fatalf("describe: %+v", all.KeyPairs)
	}
	if got := aws.ToString(byName["me"].PublicKey); got != strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) {
		t.Fatalf("the public key kept is not the private key's: %q", got)
	}
	if aws.ToString(byName["laptop"].KeyFingerprint) != aws.ToString(imported.KeyFingerprint) {
		t.Fatalf("fingerprints differ")
	}

	for _, tc := range []struct {
		name string
		in   ec2.DescribeKeyPairsInput
		want []string
	}{
		{name: "by name", in: ec2.DescribeKeyPairsInput{KeyNames: []string{"ed"}}, want: []string{"ed"}},
		{name: "by id", in: ec2.DescribeKeyPairsInput{KeyPairIds: []string{aws.ToString(imported.KeyPairId)}}, want: []string{"laptop"}},
		{name: "key-name filter", in: ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("key-name"), Values: []string{"l*", "m*"}}}}, want: []string{"laptop", "me"}},
		{name: "tag filter", in: ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("tag:team"), Values: []string{"ops"}}}}, want: []string{"me"}},
		{name: "no match", in: ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("key-name"), Values: []string{"x"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeKeyPairs(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range out.KeyPairs {
				got = append(got, aws.ToString(k.KeyName))
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v", got)
			}
		})
	}
	_, err = c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"nope"}})
	if apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Fatalf("unknown name: %v", err)
	}

	// The SDK's waiter polls DescribeKeyPairs.
	if err := ec2.NewKeyPairExistsWaiter(c, func(o *ec2.KeyPairExistsWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"me"}}, time.Minute); err != nil {
		t.Fatalf("KeyPairExists: %v", err)
	}

	del, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("me")})
	if err != nil || !aws.ToBool(del.Return) || aws.ToString(del.KeyPairId) != aws.ToString(rsaKey.KeyPairId) {
		t.Fatalf("delete by name: %+v %v", del, err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: edKey.KeyPairId}); err != nil {
		t.Fatalf("delete by id: %v", err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("me")}); err != nil {
		t.Fatalf("deleting a missing key pair by name is no error on EC2: %v", err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: edKey.KeyPairId}); apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Fatalf("delete a missing id: %v", err)
	}
	left, _ := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if len(left.KeyPairs) != 1 || aws.ToString(left.KeyPairs[0].KeyName) != "laptop" {
		t.Fatalf("left %+v", left.KeyPairs)
	}
}

func TestSDKSecurityGroups(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()

	web, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web servers"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	webID := aws.ToString(web.GroupId)
	if !groupIDPattern.MatchString(webID) || aws.ToString(web.SecurityGroupArn) != "arn:aws:ec2:us-east-1:"+e.account+":security-group/"+webID {
		t.Fatalf("created %+v", web)
	}
	db, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("databases")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("again")}); apiCode(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("duplicate: %v", err)
	}

	auth, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(webID),
		IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
				IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String("lan")}, {CidrIp: aws.String("192.168.0.0/16")}}},
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8000), ToPort: aws.Int32(8080), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
			{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(8), ToPort: aws.Int32(-1), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(auth.Return) || len(auth.SecurityGroupRules) != 4 || !strings.HasPrefix(aws.ToString(auth.SecurityGroupRules[0].SecurityGroupRuleId), "sgr-") ||
		aws.ToString(auth.SecurityGroupRules[0].CidrIpv4) != "10.0.0.0/8" {
		t.Fatalf("authorize: %+v", auth)
	}
	// A rule naming another group, by name.
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: db.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupName: aws.String("web")}}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(webID),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	if apiCode(err) != "InvalidPermission.Duplicate" {
		t.Fatalf("duplicate rule: %v", err)
	}

	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID, aws.ToString(db.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]types.SecurityGroup{}
	for _, g := range out.SecurityGroups {
		groups[aws.ToString(g.GroupName)] = g
	}
	w := groups["web"]
	if len(w.IpPermissions) != 3 || aws.ToString(w.Description) != "web servers" || aws.ToString(w.OwnerId) != e.account || len(w.Tags) != 1 {
		t.Fatalf("web: %+v", w)
	}
	ssh := w.IpPermissions[0]
	if aws.ToString(ssh.IpProtocol) != "tcp" || aws.ToInt32(ssh.FromPort) != 22 || len(ssh.IpRanges) != 2 ||
		aws.ToString(ssh.IpRanges[0].Description) != "lan" || ssh.UserIdGroupPairs == nil {
		t.Fatalf("ssh permission: %+v", ssh)
	}
	if icmp := w.IpPermissions[2]; aws.ToInt32(icmp.FromPort) != 8 || aws.ToInt32(icmp.ToPort) != -1 {
		t.Fatalf("icmp: %+v", icmp)
	}
	if eg := w.IpPermissionsEgress; len(eg) != 1 || aws.ToString(eg[0].IpProtocol) != "-1" || aws.ToString(eg[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("egress: %+v", eg)
	}
	pair := groups["db"].IpPermissions[0].UserIdGroupPairs
	if len(pair) != 1 || aws.ToString(pair[0].GroupId) != webID || aws.ToString(pair[0].GroupName) != "web" || aws.ToString(pair[0].UserId) != e.account {
		t.Fatalf("db's source group: %+v", pair)
	}

	filtered, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("ip-permission.from-port"), Values: []string{"22"}}, {Name: aws.String("ip-permission.cidr"), Values: []string{"10.*"}}}})
	if err != nil || len(filtered.SecurityGroups) != 1 || aws.ToString(filtered.SecurityGroups[0].GroupId) != webID {
		t.Fatalf("filtered: %+v %v", filtered, err)
	}
	def, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}})
	if err != nil || len(def.SecurityGroups) != 1 || aws.ToString(def.SecurityGroups[0].IpPermissions[0].IpProtocol) != "-1" {
		t.Fatalf("default group: %+v %v", def, err)
	}

	rev, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(webID),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("192.168.0.0/16")}}}}})
	if err != nil || !aws.ToBool(rev.Return) || len(rev.RevokedSecurityGroupRules) != 1 {
		t.Fatalf("revoke: %+v %v", rev, err)
	}
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(webID),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("192.168.0.0/16")}}}}})
	if apiCode(err) != "InvalidPermission.NotFound" {
		t.Fatalf("revoke twice: %v", err)
	}
	// Revoke by rule ID (what describe-security-group-rules and authorize return).
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(webID),
		SecurityGroupRuleIds: []string{aws.ToString(auth.SecurityGroupRules[3].SecurityGroupRuleId)}}); err != nil {
		t.Fatalf("revoke by rule ID: %v", err)
	}
	after, _ := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID}})
	if n := len(after.SecurityGroups[0].IpPermissions); n != 2 {
		t.Fatalf("%d permissions left, want 2 (tcp 22 from 10/8, tcp 8000-8080)", n)
	}

	if err := ec2.NewSecurityGroupExistsWaiter(c, func(o *ec2.SecurityGroupExistsWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("default")}); apiCode(err) != "CannotDelete" {
		t.Fatalf("delete default: %v", err)
	}
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: db.GroupId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(db.GroupId)}}); apiCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("deleted group: %v", err)
	}
}

func TestSDKImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	all, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Images) != 2 {
		t.Fatalf("%d images", len(all.Images))
	}
	d := all.Images[0]
	if aws.ToString(d.ImageId) != debianAMI || aws.ToString(d.Name) != "debian-ssh:latest" || d.State != types.ImageStateAvailable ||
		aws.ToString(d.OwnerId) != e.account || d.Architecture != types.ArchitectureValuesX8664 || aws.ToString(d.CreationDate) != "2026-01-02T03:04:05.000Z" ||
		d.RootDeviceType != types.DeviceTypeEbs || aws.ToBool(d.Public) {
		t.Fatalf("image %+v", d)
	}
	for _, tc := range []struct {
		name string
		in   ec2.DescribeImagesInput
		want []string
	}{
		{name: "by id", in: ec2.DescribeImagesInput{ImageIds: []string{alpineAMI}}, want: []string{alpineAMI}},
		{name: "name filter matches any reference", in: ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-ssh:12"}}}}, want: []string{debianAMI}},
		{name: "name wildcard", in: ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"alp*"}}}}, want: []string{alpineAMI}},
		{name: "owner account", in: ec2.DescribeImagesInput{Owners: []string{e.account}}, want: []string{debianAMI, alpineAMI}},
		{name: "amazon's", in: ec2.DescribeImagesInput{Owners: []string{"amazon"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeImages(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, img := range out.Images {
				got = append(got, aws.ToString(img.ImageId))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v", got)
			}
		})
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-00000000000000000", alpineAMI, "ami-11111111111111111"}})
	if apiCode(err) != "InvalidAMIID.NotFound" || !strings.Contains(err.Error(), "The image id '[ami-00000000000000000, ami-11111111111111111]' does not exist") {
		t.Fatalf("unknown: %v", err)
	}
	if err := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{debianAMI}}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestSDKInstanceLifecycle runs instances and takes them through their states with the SDK's waiters, which
// poll DescribeInstances with botocore's acceptors.
func TestSDKInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("me")}); err != nil {
		t.Fatal(err)
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho hello > /tmp/hello\n"
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2), KeyName: aws.String("me"), SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
		UserData:            aws.String(base64.StdEncoding.EncodeToString([]byte(script))),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(20)}}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}, {Key: aws.String("env"), Value: aws.String("test")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || !strings.HasPrefix(aws.ToString(run.ReservationId), "r-") || aws.ToString(run.OwnerId) != e.account {
		t.Fatalf("run: %+v", run)
	}
	first := run.Instances[0]
	if !instanceIDPattern.MatchString(aws.ToString(first.InstanceId)) || first.State.Name != types.InstanceStateNamePending || aws.ToInt32(first.State.Code) != 0 ||
		aws.ToString(first.ImageId) != debianAMI || first.InstanceType != types.InstanceTypeT3Micro || aws.ToString(first.KeyName) != "me" ||
		aws.ToString(first.Placement.AvailabilityZone) != "us-east-1a" || first.Architecture != types.ArchitectureValuesX8664 ||
		len(first.SecurityGroups) != 1 || aws.ToString(first.SecurityGroups[0].GroupName) != "web" || len(first.Tags) != 2 ||
		aws.ToInt32(run.Instances[1].AmiLaunchIndex) != 1 || first.LaunchTime == nil || first.Hypervisor != "tcg" {
		t.Fatalf("first instance: %+v", first)
	}
	if got := e.backend.runs[0]; string(got.UserData) != script || got.DiskGiB != 20 || got.ReservationID != aws.ToString(run.ReservationId) ||
		got.ImageID != debianImage.ID || got.ClientToken == "" {
		t.Fatalf("the backend was asked %+v", got)
	}
	ids := []string{aws.ToString(first.InstanceId), aws.ToString(run.Instances[1].InstanceId)}

	// The waiter's first poll sees pending, a later one running.
	err = ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, time.Minute)
	if err != nil {
		t.Fatalf("InstanceRunning: %v", err)
	}
	desc, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"web"}}, {Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Reservations) != 1 || len(desc.Reservations[0].Instances) != 2 || aws.ToString(desc.Reservations[0].ReservationId) != aws.ToString(run.ReservationId) {
		t.Fatalf("instances launched together are one reservation: %+v", desc.Reservations)
	}
	inst := desc.Reservations[0].Instances[0]
	if inst.State.Name != types.InstanceStateNameRunning || aws.ToInt32(inst.State.Code) != 16 || aws.ToString(inst.PrivateIpAddress) == "" ||
		aws.ToString(inst.PublicIpAddress) == "" || aws.ToInt32(inst.CpuOptions.CoreCount) != 2 {
		t.Fatalf("running instance: %+v", inst)
	}

	stop, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatal(err)
	}
	sc := stop.StoppingInstances[0]
	if sc.PreviousState.Name != types.InstanceStateNameRunning || sc.CurrentState.Name != types.InstanceStateNameStopping || aws.ToInt32(sc.CurrentState.Code) != 64 {
		t.Fatalf("stop: %+v %+v", sc.PreviousState, sc.CurrentState)
	}
	if err := ec2.NewInstanceStoppedWaiter(c, func(o *ec2.InstanceStoppedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]}, time.Minute); err != nil {
		t.Fatalf("InstanceStopped: %v", err)
	}
	stopped, _ := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	si := stopped.Reservations[0].Instances[0]
	if aws.ToString(si.StateTransitionReason) != "Client.UserInitiatedShutdown: User initiated shutdown" ||
		aws.ToString(si.StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Fatalf("stopped: reason %q, state reason %+v", aws.ToString(si.StateTransitionReason), si.StateReason)
	}
	if _, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids[:1]}); apiCode(err) != "IncorrectInstanceState" {
		t.Fatalf("reboot a stopped instance: %v", err)
	}
	start, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]})
	if err != nil || start.StartingInstances[0].PreviousState.Name != types.InstanceStateNameStopped || start.StartingInstances[0].CurrentState.Name != types.InstanceStateNamePending {
		t.Fatalf("start: %+v %v", start, err)
	}
	if err := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	console, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(ids[0]), Latest: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := base64.StdEncoding.DecodeString(aws.ToString(console.Output))
	if err != nil || !strings.Contains(string(out), "reboot: Restarting system") || console.Timestamp == nil {
		t.Fatalf("console output %q %v", out, err)
	}

	status, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids})
	if err != nil || len(status.InstanceStatuses) != 2 || status.InstanceStatuses[0].InstanceStatus.Status != types.SummaryStatusOk {
		t.Fatalf("status: %+v %v", status, err)
	}
	if err := ec2.NewInstanceStatusOkWaiter(c, func(o *ec2.InstanceStatusOkWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids}, time.Minute); err != nil {
		t.Fatal(err)
	}

	term, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err != nil || len(term.TerminatingInstances) != 2 || term.TerminatingInstances[0].CurrentState.Name != types.InstanceStateNameShuttingDown {
		t.Fatalf("terminate: %+v %v", term, err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, time.Minute); err != nil {
		t.Fatal(err)
	}
	gone, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil || gone.Reservations[0].Instances[0].State.Name != types.InstanceStateNameTerminated || gone.Reservations[0].Instances[0].PrivateIpAddress != nil {
		t.Fatalf("terminated instances stay listed, without an address: %+v %v", gone, err)
	}
	again, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:1]})
	if err != nil || again.TerminatingInstances[0].PreviousState.Name != types.InstanceStateNameTerminated {
		t.Fatalf("terminating twice is no error: %+v %v", again, err)
	}
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]}); apiCode(err) != "IncorrectInstanceState" {
		t.Fatalf("start a terminated instance: %v", err)
	}
	status, _ = c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{})
	all, _ := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	if len(status.InstanceStatuses) != 0 || len(all.InstanceStatuses) != 2 || all.InstanceStatuses[0].InstanceStatus.Status != types.SummaryStatusNotApplicable {
		t.Fatalf("status lists running instances unless IncludeAllInstances: %d, %d", len(status.InstanceStatuses), len(all.InstanceStatuses))
	}
}

func TestSDKRunIdempotentAndAllOrNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	in := &ec2.RunInstancesInput{ImageId: aws.String(alpineAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String("retry-me")}
	a, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.Instances[0].InstanceId) != aws.ToString(b.Instances[0].InstanceId) || aws.ToString(a.ReservationId) != aws.ToString(b.ReservationId) || len(e.backend.runs) != 1 {
		t.Fatalf("a retried RunInstances launched again: %s %s", aws.ToString(a.Instances[0].InstanceId), aws.ToString(b.Instances[0].InstanceId))
	}
	in.ImageId = aws.String(debianAMI)
	if _, err := c.RunInstances(ctx, in); apiCode(err) != "IdempotentParameterMismatch" {
		t.Fatalf("same token, other image: %v", err)
	}

	// The third launch fails: with MinCount 3 none stay; with MinCount 2 two do.
	e.backend.failRunAt = len(e.backend.runs) + 3
	noRetry := func(o *ec2.Options) { o.RetryMaxAttempts = 1 } // a 500: the SDK would retry, with the same client token
	_, err = c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(alpineAMI), MinCount: aws.Int32(3), MaxCount: aws.Int32(4),
		ClientToken: aws.String("fails")}, noRetry)
	if apiCode(err) != "InsufficientInstanceCapacity" {
		t.Fatalf("capacity: %v", err)
	}
	running, _ := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
	if n := countInstances(running); n != 1 {
		t.Fatalf("%d instances live after a failed launch, want only the first test's", n)
	}
	// A retry of the failed call (same client token) launches anew, not returning the failed launch's instances.
	retry, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(alpineAMI), MinCount: aws.Int32(3), MaxCount: aws.Int32(4),
		ClientToken: aws.String("fails")}, noRetry)
	if err != nil || len(retry.Instances) != 4 || retry.Instances[0].State.Name != types.InstanceStateNamePending {
		t.Fatalf("retry of a failed launch: %v %+v", err, retry)
	}
	e.backend.failRunAt = len(e.backend.runs) + 3
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(alpineAMI), MinCount: aws.Int32(2), MaxCount: aws.Int32(4)}, noRetry)
	if err != nil || len(out.Instances) != 2 {
		t.Fatalf("MinCount 2 of 4: %v %+v", err, out)
	}
}

func countInstances(out *ec2.DescribeInstancesOutput) int {
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
	}
	return n
}

func TestSDKPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	if _, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(alpineAMI), MinCount: aws.Int32(7), MaxCount: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	pages, seen := 0, map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				seen[aws.ToString(i.InstanceId)] = true
			}
		}
	}
	if pages != 2 || len(seen) != 7 {
		t.Fatalf("%d pages, %d instances", pages, len(seen))
	}
}

func TestSDKTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.root()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	key, _ := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("me")})
	sg, _ := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	resources := []string{id, aws.ToString(key.KeyPairId), aws.ToString(sg.GroupId), debianAMI}
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: resources,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}, {Key: aws.String("empty")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"team"}}}})
	if err != nil {
		t.Fatal(err)
	}
	types4 := map[string]types.ResourceType{}
	for _, td := range out.Tags {
		types4[aws.ToString(td.ResourceId)] = td.ResourceType
	}
	if len(out.Tags) != 4 || types4[id] != types.ResourceTypeInstance || types4[debianAMI] != types.ResourceTypeImage ||
		types4[aws.ToString(key.KeyPairId)] != types.ResourceTypeKeyPair || types4[aws.ToString(sg.GroupId)] != types.ResourceTypeSecurityGroup {
		t.Fatalf("tags %+v", out.Tags)
	}
	byRes, _ := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if len(byRes.Tags) != 2 || aws.ToString(byRes.Tags[0].Key) != "empty" || aws.ToString(byRes.Tags[0].Value) != "" {
		t.Fatalf("an instance's tags: %+v", byRes.Tags)
	}
	// DeleteTags: a key with a value removes it only when the value matches; a key alone whatever the value.
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if byRes, _ = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}}); len(byRes.Tags) != 2 {
		t.Fatalf("a value that differs removed the tag: %+v", byRes.Tags)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("team")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{debianAMI}}); err != nil { // no tags: all of them
		t.Fatal(err)
	}
	left, _ := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id, debianAMI}}}})
	if len(left.Tags) != 1 || aws.ToString(left.Tags[0].Key) != "empty" {
		t.Fatalf("left %+v", left.Tags)
	}
	desc, _ := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"empty"}}}})
	if countInstances(desc) != 1 {
		t.Fatalf("tag-key filter")
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("a")}}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("tag a missing instance: %v", err)
	}
}

func TestSDKInstanceTypes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.root().DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeT3Large}})
	if err != nil {
		t.Fatal(err)
	}
	it := out.InstanceTypes
	if len(it) != 1 || aws.ToInt32(it[0].VCpuInfo.DefaultVCpus) != 2 || aws.ToInt64(it[0].MemoryInfo.SizeInMiB) != 8192 ||
		it[0].ProcessorInfo.SupportedArchitectures[0] != types.ArchitectureTypeX8664 || !aws.ToBool(it[0].BurstablePerformanceSupported) {
		t.Fatalf("%+v", it)
	}
	filtered, err := e.root().DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{Filters: []types.Filter{
		{Name: aws.String("vcpu-info.default-vcpus"), Values: []string{"1"}}}})
	if err != nil || len(filtered.InstanceTypes) != 3 {
		t.Fatalf("one-vCPU types: %d %v", len(filtered.InstanceTypes), err)
	}
}

// TestSDKAuthorization: an IAM user does what its identity policies allow, as on EC2; a root anything.
func TestSDKAuthorization(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.CreateUser(ctx, e.account, "viewer", "/"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutUserPolicy(ctx, e.account, "viewer", "read", `{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},`+
		`{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"arn:aws:ec2:*:*:instance/*"},`+
		`{"Effect":"Deny","Action":"ec2:DescribeKeyPairs","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	k, err := e.store.CreateAccessKey(ctx, e.account, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	viewer := e.client(k.ID, k.Secret)
	if _, err := viewer.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	_, err = viewer.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "UnauthorizedOperation" || !strings.Contains(err.Error(), "is not authorized to perform: ec2:RunInstances") {
		t.Fatalf("not allowed: %v", err)
	}
	_, err = viewer.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), DryRun: aws.Bool(true)})
	if apiCode(err) != "UnauthorizedOperation" {
		t.Fatalf("a dry run without the permission: %v", err)
	}
	_, err = viewer.DescribeInstances(ctx, &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
	if apiCode(err) != "DryRunOperation" {
		t.Fatalf("a dry run with the permission: %v", err)
	}
	if _, err := viewer.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}); apiCode(err) != "UnauthorizedOperation" || !strings.Contains(err.Error(), "explicit deny") {
		t.Fatalf("denied: %v", err)
	}
	run, err := e.root().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(debianAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}}); err != nil {
		t.Fatalf("resource-level permission: %v", err)
	}
	if _, err := viewer.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}}); apiCode(err) != "UnauthorizedOperation" {
		t.Fatalf("terminate: %v", err)
	}

	// Another account's root may call EC2 too; the resources are shared (one engine namespace) and reported as
	// the caller's.
	acct, key, err := e.store.CreateAccount(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	other := e.client(key.ID, key.Secret)
	out, err := other.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || countInstances(out) != 1 || aws.ToString(out.Reservations[0].OwnerId) != acct.ID {
		t.Fatalf("another account: %+v %v", out, err)
	}
}
