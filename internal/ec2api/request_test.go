package ec2api

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// formOf builds a form from name/value pairs.
func formOf(kv ...string) form {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return form(v)
}

// codeOf is an error's EC2 code and message, "" for nil.
func codeOf(err error) (string, string) {
	if err == nil {
		return "", ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Message
	}
	return "not an *Error", err.Error()
}

func TestShape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "ImageId", want: "ImageId"},
		{name: "list", in: "InstanceId.12", want: "InstanceId.N"},
		{name: "nested", in: "Filter.1.Value.10", want: "Filter.N.Value.N"},
		{name: "deep", in: "IpPermissions.2.IpRanges.3.CidrIp", want: "IpPermissions.N.IpRanges.N.CidrIp"},
		{name: "not a number", in: "InstanceId.x", want: "InstanceId.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shape(tt.in); got != tt.want {
				t.Fatalf("shape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormCheck(t *testing.T) {
	known := knownParams([]string{"InstanceId.N", filterParams})
	tests := []struct {
		name     string
		f        form
		wantCode string
		wantMsg  string
	}{
		{name: "known", f: formOf("Action", "DescribeInstances", "InstanceId.1", "i-1", "Filter.1.Name", "x", "Filter.1.Value.1", "y", "DryRun", "true")},
		{name: "signature parameters", f: formOf("X-Amz-Signature", "x", "AWSAccessKeyId", "k", "Timestamp", "t")},
		{name: "unknown", f: formOf("SubnetId", "subnet-1"), wantCode: CodeUnknownParameter, wantMsg: "The parameter SubnetId is not recognized"},
		{name: "unnumbered list", f: formOf("InstanceId", "i-1"), wantCode: CodeUnknownParameter, wantMsg: "The parameter InstanceId is not recognized"},
		{name: "index zero", f: formOf("InstanceId.0", "i-1"), wantCode: CodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := codeOf(tt.f.check(known))
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Fatalf("got %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestFormLists(t *testing.T) {
	f := formOf("InstanceId.2", "b", "InstanceId.10", "c", "InstanceId.1", "a",
		"Filter.2.Name", "tag:Name", "Filter.2.Value.1", "web", "Filter.1.Name", "instance-state-name",
		"Filter.1.Value.2", "stopped", "Filter.1.Value.1", "running",
		"Tag.1.Key", "k1", "Tag.2.Key", "k2", "Tag.2.Value", "", "Tag.3.Key", "k3", "Tag.3.Value", "v3")
	if got := f.list("InstanceId"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("list in index order (10 after 2): %q", got)
	}
	flts, err := f.filters()
	if err != nil {
		t.Fatal(err)
	}
	want := []Filter{{Name: "instance-state-name", Values: []string{"running", "stopped"}}, {Name: "tag:Name", Values: []string{"web"}}}
	if !reflect.DeepEqual(flts, want) {
		t.Fatalf("filters %+v", flts)
	}
	tags := f.tagList("Tag")
	wantTags := []tagParam{{Key: "k1"}, {Key: "k2", HasValue: true}, {Key: "k3", Value: "v3", HasValue: true}}
	if !reflect.DeepEqual(tags, wantTags) {
		t.Fatalf("tags %+v: a value absent and a value empty differ (DeleteTags)", tags)
	}
}

func TestFormScalars(t *testing.T) {
	tests := []struct {
		name     string
		f        form
		bool     bool
		n        int
		hasN     bool
		wantCode string
	}{
		{name: "absent", f: formOf()},
		{name: "true", f: formOf("DryRun", "true", "MaxCount", "3"), bool: true, n: 3, hasN: true},
		{name: "TRUE", f: formOf("DryRun", "TRUE"), bool: true},
		{name: "bad bool", f: formOf("DryRun", "yes"), wantCode: CodeInvalidParameterValue},
		{name: "bad int", f: formOf("MaxCount", "three"), wantCode: CodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, berr := tt.f.boolean("DryRun")
			n, ok, nerr := tt.f.integer("MaxCount")
			err := errors.Join(berr, nerr)
			if code, msg := codeOf(err); code != tt.wantCode {
				t.Fatalf("error %s %s, want %s", code, msg, tt.wantCode)
			}
			if err == nil && (b != tt.bool || n != tt.n || ok != tt.hasN) {
				t.Fatalf("got %v %d %v", b, n, ok)
			}
		})
	}
}

func TestFilterParsingErrors(t *testing.T) {
	tests := []struct {
		name     string
		f        form
		wantCode string
		wantMsg  string
	}{
		{name: "no name", f: formOf("Filter.1.Value.1", "x"), wantCode: CodeInvalidParameterValue, wantMsg: "The filter 'null' is invalid"},
		{name: "no value", f: formOf("Filter.1.Name", "key-name"), wantCode: CodeInvalidParameterValue},
		{name: "long value", f: formOf("Filter.1.Name", "key-name", "Filter.1.Value.1", strings.Repeat("x", 256)), wantCode: "FilterLimitExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.f.filters()
			code, msg := codeOf(err)
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Fatalf("got %s %q", code, msg)
			}
		})
	}
}

func TestParseRunInstances(t *testing.T) {
	base := []string{"ImageId", debianAMI, "MinCount", "1", "MaxCount", "1"}
	with := func(kv ...string) form { return formOf(append(append([]string{}, base...), kv...)...) }
	script := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
	tests := []struct {
		name     string
		f        form
		want     runInput
		wantCode string
		wantMsg  string
	}{
		{name: "minimal", f: with(), want: runInput{AMI: debianAMI, MinCount: 1, MaxCount: 1}},
		{name: "everything", f: formOf("ImageId", debianAMI, "MinCount", "2", "MaxCount", "3", "InstanceType", "t3.micro",
			"KeyName", "me", "SecurityGroupId.1", "sg-0123456789abcdef0", "SecurityGroup.1", "web", "UserData", script,
			"ClientToken", "tok", "TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "Name",
			"TagSpecification.1.Tag.1.Value", "web", "TagSpecification.2.ResourceType", "volume",
			"TagSpecification.2.Tag.1.Key", "x", "BlockDeviceMapping.1.DeviceName", "/dev/xvda",
			"BlockDeviceMapping.1.Ebs.VolumeSize", "20", "BlockDeviceMapping.1.Ebs.VolumeType", "gp3",
			"Placement.AvailabilityZone", "us-east-1a", "Monitoring.Enabled", "false", "EbsOptimized", "false"),
			want: runInput{AMI: debianAMI, MinCount: 2, MaxCount: 3, Type: "t3.micro", KeyName: "me",
				Groups: []string{"sg-0123456789abcdef0", "web"}, UserData: []byte("#!/bin/sh\necho hi\n"), ClientToken: "tok",
				Tags: map[string]string{"Name": "web"}, DiskGiB: 20}},
		{name: "no image", f: formOf("MinCount", "1", "MaxCount", "1"), wantCode: CodeMissingParameter, wantMsg: "The request must contain the parameter ImageId"},
		{name: "no max", f: formOf("ImageId", debianAMI, "MinCount", "1"), wantCode: CodeMissingParameter, wantMsg: "The request must contain the parameter MaxCount"},
		{name: "min zero", f: formOf("ImageId", debianAMI, "MinCount", "0", "MaxCount", "1"), wantCode: CodeInvalidParameterValue},
		{name: "min over max", f: formOf("ImageId", debianAMI, "MinCount", "3", "MaxCount", "2"), wantCode: CodeInvalidParameterValue,
			wantMsg: "Value (2) for parameter maxCount is invalid. Expected a value greater than or equal to minCount (3)."},
		{name: "user data not base64", f: with("UserData", "#!/bin/sh"), wantCode: CodeInvalidParameterValue, wantMsg: "Invalid BASE64 encoding of user data."},
		{name: "user data too large", f: with("UserData", base64.StdEncoding.EncodeToString(make([]byte, 16<<10+1))), wantCode: CodeInvalidParameterValue},
		{name: "subnet", f: with("SubnetId", "subnet-1"), wantCode: CodeUnsupportedOperation, wantMsg: "Berth's EC2 does not support the parameter SubnetId."},
		{name: "network interface", f: with("NetworkInterface.1.DeviceIndex", "0"), wantCode: CodeUnsupportedOperation},
		{name: "other zone", f: with("Placement.AvailabilityZone", "us-east-1b"), wantCode: CodeInvalidParameterValue, wantMsg: "Invalid availability zone: [us-east-1b]"},
		{name: "second disk", f: with("BlockDeviceMapping.1.DeviceName", "/dev/sdb", "BlockDeviceMapping.1.Ebs.VolumeSize", "10"), wantCode: CodeUnsupportedOperation},
		{name: "disk too large", f: with("BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize", "20000"), wantCode: CodeInvalidParameterValue},
		{name: "keep the disk", f: with("BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.DeleteOnTermination", "false"), wantCode: CodeUnsupportedOperation},
		{name: "monitoring", f: with("Monitoring.Enabled", "true"), wantCode: CodeUnsupportedOperation},
		{name: "tag spec of another type", f: with("TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "x"), wantCode: CodeInvalidParameterValue,
			wantMsg: "'vpc' is not a valid taggable resource type for this operation."},
		{name: "reserved tag", f: with("TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "aws:x"), wantCode: CodeInvalidParameterValue},
		{name: "empty tag spec", f: with("TagSpecification.1.ResourceType", "instance"), wantCode: CodeInvalidParameterValue},
		{name: "control character in a tag", f: with("TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "Name",
			"TagSpecification.1.Tag.1.Value", "web\x01"), wantCode: CodeInvalidParameterValue},
		{name: "invalid UTF-8 in a tag", f: with("TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "\xff"),
			wantCode: CodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRunInstances(tt.f, "us-east-1a")
			code, msg := codeOf(err)
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Fatalf("error %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMsg)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestIngressRules(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name     string
		f        form
		want     []Rule
		wantCode string
		wantMsg  string
	}{
		{name: "the CLI's --protocol tcp --port 22 --cidr", f: formOf("GroupId", "sg-1", "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
			want: []Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}},
		{name: "ranges, groups and descriptions, one rule per source", f: formOf(
			"IpPermissions.1.IpProtocol", "6", "IpPermissions.1.FromPort", "8000", "IpPermissions.1.ToPort", "8080",
			"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.7/8", "IpPermissions.1.IpRanges.1.Description", "lan",
			"IpPermissions.1.IpRanges.2.CidrIp", "192.168.1.0/24",
			"IpPermissions.1.Groups.1.GroupId", "sg-0123456789abcdef0", "IpPermissions.1.Groups.2.GroupName", "web",
			"IpPermissions.2.IpProtocol", "icmp", "IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0",
			"IpPermissions.3.IpProtocol", "-1", "IpPermissions.3.FromPort", "5", "IpPermissions.3.Groups.1.GroupName", "db"),
			want: []Rule{
				{Protocol: "tcp", FromPort: 8000, ToPort: 8080, CIDRs: []netip.Prefix{pfx("10.0.0.0/8")}, Description: "lan"},
				{Protocol: "tcp", FromPort: 8000, ToPort: 8080, CIDRs: []netip.Prefix{pfx("192.168.1.0/24")}},
				{Protocol: "tcp", FromPort: 8000, ToPort: 8080, Groups: []string{"sg-0123456789abcdef0"}},
				{Protocol: "tcp", FromPort: 8000, ToPort: 8080, Groups: []string{"web"}},
				{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}},
				{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []string{"db"}},
			}},
		{name: "top-level parameters", f: formOf("GroupName", "web", "IpProtocol", "udp", "FromPort", "53", "ToPort", "53", "CidrIp", "10.1.0.0/16"),
			want: []Rule{{Protocol: "udp", FromPort: 53, ToPort: 53, CIDRs: []netip.Prefix{pfx("10.1.0.0/16")}}}},
		{name: "a source group alone", f: formOf("GroupName", "web", "SourceSecurityGroupName", "lb"),
			want: []Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []string{"lb"}}}},
		{name: "both forms", f: formOf("CidrIp", "10.0.0.0/8", "IpPermissions.1.IpProtocol", "tcp"), wantCode: CodeInvalidParameterCombination},
		{name: "nothing", f: formOf("GroupId", "sg-1"), wantCode: CodeMissingParameter},
		{name: "tcp without ports", f: formOf("IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
			wantCode: CodeInvalidParameterValue, wantMsg: "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."},
		{name: "ports reversed", f: formOf("IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "90", "IpPermissions.1.ToPort", "80",
			"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"), wantCode: CodeInvalidParameterValue},
		{name: "port out of range", f: formOf("IpPermissions.1.IpProtocol", "udp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "70000",
			"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"), wantCode: CodeInvalidParameterValue},
		{name: "unknown protocol", f: formOf("IpPermissions.1.IpProtocol", "tpc", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
			wantCode: CodeInvalidParameterValue, wantMsg: "Invalid value 'tpc' for IP protocol. Unknown protocol."},
		{name: "another protocol number", f: formOf("IpPermissions.1.IpProtocol", "50", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
			wantCode: CodeUnsupportedOperation},
		{name: "bad cidr", f: formOf("IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.300/8"),
			wantCode: CodeInvalidParameterValue, wantMsg: "CIDR block 10.0.0.300/8 is malformed"},
		{name: "ipv6 range", f: formOf("IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "::/0"),
			wantCode: CodeUnsupportedOperation},
		{name: "no source", f: formOf("IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "2"),
			wantCode: CodeMissingParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.ingressRules()
			code, msg := codeOf(err)
			if code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Fatalf("error %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMsg)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPermissionsGroupRulesAsEC2ListsThem(t *testing.T) {
	pfx := netip.MustParsePrefix
	rules := []Rule{
		{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{pfx("10.0.0.0/8")}, Description: "lan"},
		{Protocol: "-1", FromPort: -1, ToPort: -1, Groups: []string{"sg-1"}},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, Groups: []string{"sg-2"}},
	}
	got := permissions(rules, "123456789012", map[string]string{"sg-1": "default", "sg-2": "web"})
	if len(got) != 2 {
		t.Fatalf("%d permissions, want one per protocol and ports: %+v", len(got), got)
	}
	ssh, all := got[0], got[1]
	if ssh.IPProtocol != "tcp" || *ssh.FromPort != 22 || *ssh.ToPort != 22 || len(ssh.IPRanges) != 2 || len(ssh.Groups) != 1 ||
		ssh.IPRanges[0] != (wireIPRange{CidrIP: "10.0.0.0/8", Description: "lan"}) || ssh.Groups[0].GroupName != "web" || ssh.Groups[0].UserID != "123456789012" {
		t.Fatalf("tcp 22: %+v", ssh)
	}
	if all.IPProtocol != "-1" || all.FromPort != nil || all.ToPort != nil || all.Groups[0].GroupID != "sg-1" {
		t.Fatalf("all traffic: %+v (EC2 leaves the ports out for -1)", all)
	}
}

func TestRuleIDStable(t *testing.T) {
	r := Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Description: "a"}
	d := r
	d.Description = "b"
	if ruleID("sg-1", r) != ruleID("sg-1", d) || !strings.HasPrefix(ruleID("sg-1", r), "sgr-") || len(ruleID("sg-1", r)) != 21 {
		t.Fatalf("rule IDs %s %s: one per group and rule, whatever its description", ruleID("sg-1", r), ruleID("sg-1", d))
	}
	if ruleID("sg-1", r) == ruleID("sg-2", r) {
		t.Fatal("the same rule in two groups has two IDs")
	}
}

func TestResourcesFor(t *testing.T) {
	tests := []struct {
		name   string
		action string
		f      form
		want   []string
	}{
		{name: "describe", action: "DescribeInstances", f: formOf("InstanceId.1", "i-1"), want: []string{"*"}},
		{name: "stop", action: "StopInstances", f: formOf("InstanceId.1", "i-1", "InstanceId.2", "i-2"),
			want: []string{"arn:aws:ec2:us-east-1:111:instance/i-1", "arn:aws:ec2:us-east-1:111:instance/i-2"}},
		{name: "run", action: "RunInstances", f: formOf("ImageId", "ami-1"), want: []string{"arn:aws:ec2:us-east-1:111:instance/*"}},
		{name: "group by id", action: "AuthorizeSecurityGroupIngress", f: formOf("GroupId", "sg-1"), want: []string{"arn:aws:ec2:us-east-1:111:security-group/sg-1"}},
		{name: "group by name", action: "DeleteSecurityGroup", f: formOf("GroupName", "web"), want: []string{"*"}},
		{name: "key pair", action: "DeleteKeyPair", f: formOf("KeyName", "me"), want: []string{"arn:aws:ec2:us-east-1:111:key-pair/me"}},
		{name: "tags", action: "CreateTags", f: formOf("ResourceId.1", "i-1", "ResourceId.2", "ami-2", "ResourceId.3", "sg-3"),
			want: []string{"arn:aws:ec2:us-east-1:111:instance/i-1", "arn:aws:ec2:us-east-1::image/ami-2", "arn:aws:ec2:us-east-1:111:security-group/sg-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resourcesFor(tt.action, tt.f, "us-east-1", "111"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	f := formOf("MaxResults", "5")
	p, err := f.paging(5, 1000)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, next := p.bounds(12)
	if lo != 0 || hi != 5 || next == "" {
		t.Fatalf("first page %d..%d %q", lo, hi, next)
	}
	p, err = formOf("MaxResults", "5", "NextToken", next).paging(5, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, next = p.bounds(12); lo != 5 || hi != 10 || next == "" {
		t.Fatalf("second page %d..%d %q", lo, hi, next)
	}
	p, _ = formOf("MaxResults", "5", "NextToken", next).paging(5, 1000)
	if lo, hi, next = p.bounds(12); lo != 10 || hi != 12 || next != "" {
		t.Fatalf("last page %d..%d %q", lo, hi, next)
	}
	for _, bad := range []form{formOf("MaxResults", "4"), formOf("MaxResults", "1001"), formOf("NextToken", "garbage")} {
		if _, err := bad.paging(5, 1000); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	if _, err := formOf("MaxResults", "2").paging(5, 1000); err.Error() != "InvalidParameterValue: Value ( 2 ) for parameter maxResults is invalid. Expecting a value greater than 5." {
		t.Fatalf("message: %v", err)
	}
}
