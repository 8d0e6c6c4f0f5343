package ec2api

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth/berth/internal/cloud"
)

// TestErrorDocument checks EC2's error shape byte for byte where it is fixed: <Response><Errors><Error><Code>
// <Message>, then <RequestID> (capitalised so), and the status EC2 answers with.
func TestErrorDocument(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, "DescribeInstances", "InstanceId.1", "i-0123456789abcdef0")
	if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/xml") {
		t.Fatalf("status %d, content type %q", r.status, r.header.Get("Content-Type"))
	}
	want := regexp.MustCompile(`^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>` +
		`<Message>The instance ID &#39;i-0123456789abcdef0&#39; does not exist</Message></Error></Errors>` +
		`<RequestID>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}</RequestID></Response>$`)
	if !want.MatchString(r.body) {
		t.Fatalf("error document:\n%s", r.body)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		key        string // "" for unsigned; "bad" for a wrong secret; "unknown" for an unknown key
		params     []string
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "wrong secret", key: "bad", params: []string{"Action", "DescribeInstances"}, wantStatus: 401, wantCode: "AuthFailure"},
		{name: "unknown key", key: "unknown", params: []string{"Action", "DescribeInstances"}, wantStatus: 401, wantCode: "AuthFailure"},
		{name: "no action", params: []string{"Version", apiVersion}, wantStatus: 400, wantCode: "MissingAction"},
		{name: "unknown action", params: []string{"Action", "DescribeVpcz"}, wantStatus: 400, wantCode: "InvalidAction",
			wantMsg: "The action DescribeVpcz is not valid for this web service."},
		{name: "unknown parameter", params: []string{"Action", "DescribeInstances", "InstanceIds.1", "i-1"}, wantStatus: 400,
			wantCode: "UnknownParameter", wantMsg: "The parameter InstanceIds.1 is not recognized"},
		{name: "malformed instance id", params: []string{"Action", "TerminateInstances", "InstanceId.1", "i-xyz"}, wantStatus: 400,
			wantCode: "InvalidInstanceID.Malformed", wantMsg: `Invalid id: "i-xyz"`},
		{name: "instance ids not found", params: []string{"Action", "StopInstances", "InstanceId.1", "i-0123456789abcdef0", "InstanceId.2", "i-0123456789abcdef1"},
			wantStatus: 400, wantCode: "InvalidInstanceID.NotFound", wantMsg: "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist"},
		{name: "malformed ami", params: []string{"Action", "RunInstances", "ImageId", "debian", "MinCount", "1", "MaxCount", "1"}, wantStatus: 400,
			wantCode: "InvalidAMIID.Malformed", wantMsg: `Invalid id: "debian" (expecting "ami-...")`},
		{name: "unknown ami", params: []string{"Action", "RunInstances", "ImageId", "ami-00000000000000000", "MinCount", "1", "MaxCount", "1"}, wantStatus: 400,
			wantCode: "InvalidAMIID.NotFound", wantMsg: "The image id '[ami-00000000000000000]' does not exist"},
		{name: "unknown key pair", params: []string{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "1", "MaxCount", "1", "KeyName", "nope"},
			wantStatus: 400, wantCode: "InvalidKeyPair.NotFound", wantMsg: "The key pair 'nope' does not exist"},
		{name: "unknown group", params: []string{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "1", "MaxCount", "1", "SecurityGroupId.1", "sg-0123456789abcdef0"},
			wantStatus: 400, wantCode: "InvalidGroup.NotFound", wantMsg: "The security group 'sg-0123456789abcdef0' does not exist"},
		{name: "unknown instance type", params: []string{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "1", "MaxCount", "1", "InstanceType", "t9.huge"},
			wantStatus: 400, wantCode: "InvalidParameterValue", wantMsg: "Invalid value 't9.huge' for InstanceType."},
		{name: "too many", params: []string{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "21", "MaxCount", "21"},
			wantStatus: 400, wantCode: "InstanceLimitExceeded"},
		{name: "unsupported", params: []string{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "1", "MaxCount", "1", "SubnetId", "subnet-1"},
			wantStatus: 400, wantCode: "UnsupportedOperation"},
		{name: "missing key name", params: []string{"Action", "CreateKeyPair"}, wantStatus: 400, wantCode: "MissingParameter",
			wantMsg: "The request must contain the parameter KeyName"},
		{name: "bad key material", params: []string{"Action", "ImportKeyPair", "KeyName", "k", "PublicKeyMaterial", "c3NoLXJzYSBub3Qta2V5"},
			wantStatus: 400, wantCode: "InvalidKey.Format", wantMsg: "Key is not in valid OpenSSH public key format"},
		{name: "unknown filter", params: []string{"Action", "DescribeInstances", "Filter.1.Name", "public-ip", "Filter.1.Value.1", "1.2.3.4"},
			wantStatus: 400, wantCode: "InvalidParameterValue", wantMsg: "The filter 'public-ip' is invalid"},
		{name: "group name with sg-", params: []string{"Action", "CreateSecurityGroup", "GroupName", "sg-web", "GroupDescription", "x"},
			wantStatus: 400, wantCode: "InvalidParameterValue"},
		{name: "group name beyond EC2's characters", params: []string{"Action", "CreateSecurityGroup", "GroupName", "wéb", "GroupDescription", "x"},
			wantStatus: 400, wantCode: "InvalidParameterValue"},
		{name: "malformed group id", params: []string{"Action", "DescribeSecurityGroups", "GroupId.1", "sg-zz"}, wantStatus: 400,
			wantCode: "InvalidGroupId.Malformed"},
		{name: "group name not found", params: []string{"Action", "DescribeSecurityGroups", "GroupName.1", "nope"}, wantStatus: 400,
			wantCode: "InvalidGroup.NotFound", wantMsg: "The security group 'nope' does not exist in default VPC"},
		{name: "ids and max results", params: []string{"Action", "DescribeInstances", "InstanceId.1", "i-0123456789abcdef0", "MaxResults", "5"},
			wantStatus: 400, wantCode: "InvalidParameterCombination"},
		{name: "max results too small", params: []string{"Action", "DescribeInstances", "MaxResults", "2"}, wantStatus: 400,
			wantCode: "InvalidParameterValue", wantMsg: "Value ( 2 ) for parameter maxResults is invalid. Expecting a value greater than 5."},
		{name: "bad next token", params: []string{"Action", "DescribeInstances", "NextToken", "garbage"}, wantStatus: 400, wantCode: "InvalidNextToken"},
		{name: "tag an unknown id", params: []string{"Action", "CreateTags", "ResourceId.1", "vol-1", "Tag.1.Key", "a"}, wantStatus: 400,
			wantCode: "InvalidID", wantMsg: "The ID 'vol-1' is not valid"},
		{name: "reserved tag", params: []string{"Action", "CreateTags", "ResourceId.1", debianAMI, "Tag.1.Key", "aws:x"}, wantStatus: 400,
			wantCode: "InvalidParameterValue"},
		{name: "unknown instance type", params: []string{"Action", "DescribeInstanceTypes", "InstanceType.1", "t9.huge", "InstanceType.2", "t2.micro"},
			wantStatus: 400, wantCode: "InvalidInstanceType", wantMsg: "The following supplied instance types do not exist: [t9.huge]"},
		{name: "other region", params: []string{"Action", "DescribeRegions", "RegionName.1", "eu-west-1"}, wantStatus: 400, wantCode: "InvalidParameterValue"},
		{name: "dry run", params: []string{"Action", "DescribeInstances", "DryRun", "true"}, wantStatus: 412, wantCode: "DryRunOperation",
			wantMsg: "Request would have succeeded, but DryRun flag is set."},
		{name: "dry run checks the request first", params: []string{"Action", "RunInstances", "DryRun", "true", "ImageId", "ami-00000000000000000",
			"MinCount", "1", "MaxCount", "1"}, wantStatus: 400, wantCode: "InvalidAMIID.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{}
			for i := 0; i+1 < len(tt.params); i += 2 {
				v.Add(tt.params[i], tt.params[i+1])
			}
			key, secret := rootKey, rootSecret
			switch tt.key {
			case "bad":
				secret = "not-the-secret"
			case "unknown":
				key = "AKIAIOSFODNN7EXAMPLE"
			}
			r := e.post(t, key, secret, v)
			code, msg := parseError(t, r)
			if r.status != tt.wantStatus || code != tt.wantCode || (tt.wantMsg != "" && msg != tt.wantMsg) {
				t.Fatalf("got %d %s %q, want %d %s %q", r.status, code, msg, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
		})
	}
	if n := len(e.backend.runs); n != 0 {
		t.Fatalf("refused requests launched %d instances", n)
	}
}

// TestAnonymous calls the service as the endpoint would with an unsigned request: AuthFailure. (The endpoint
// itself routes unsigned requests to S3, which answers them in S3's words; this is the service's own guard.)
func TestAnonymous(t *testing.T) {
	svc := New(newFakeBackend())
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=DescribeInstances&Version=2016-11-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req = req.WithContext(cloud.WithInfo(req.Context(), cloud.RequestInfo{Identity: cloud.Identity{Anonymous: true}, RequestID: "req-1"}))
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, req)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Response><Errors><Error><Code>AuthFailure</Code>` +
		`<Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>req-1</RequestID></Response>`
	if rec.Code != 401 || rec.Body.String() != want {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestDryRunChangesNothing runs each mutating action with DryRun=true: DryRunOperation, and nothing changed.
func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	inst, _, err := e.backend.Run(context.Background(), RunOptions{ImageID: debianImage.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.backend.Instances(context.Background()) // pending, shown once
	e.backend.Instances(context.Background()) // running
	before := snapshot(t, e)
	for _, params := range [][]string{
		{"Action", "CreateKeyPair", "KeyName", "k"},
		{"Action", "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web"},
		{"Action", "RunInstances", "ImageId", debianAMI, "MinCount", "1", "MaxCount", "1"},
		{"Action", "StopInstances", "InstanceId.1", inst.ID},
		{"Action", "TerminateInstances", "InstanceId.1", inst.ID},
		{"Action", "RebootInstances", "InstanceId.1", inst.ID},
		{"Action", "CreateTags", "ResourceId.1", inst.ID, "Tag.1.Key", "a"},
		{"Action", "AuthorizeSecurityGroupIngress", "GroupName", "default", "IpPermissions.1.IpProtocol", "tcp",
			"IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"},
		{"Action", "DeleteSecurityGroup", "GroupName", "default"},
	} {
		t.Run(params[1], func(t *testing.T) {
			v := url.Values{"DryRun": {"true"}}
			for i := 0; i+1 < len(params); i += 2 {
				v.Add(params[i], params[i+1])
			}
			r := e.post(t, rootKey, rootSecret, v)
			if code, msg := parseError(t, r); r.status != 412 || code != "DryRunOperation" {
				t.Fatalf("%d %s %s", r.status, code, msg)
			}
		})
	}
	if after := snapshot(t, e); after != before {
		t.Fatalf("a dry run changed something:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot is the backend's state as text.
func snapshot(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	keys, _ := e.backend.KeyPairs(ctx)
	groups, _ := e.backend.SecurityGroups(ctx)
	insts, _ := e.backend.Instances(ctx)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.Name + " ")
	}
	for _, g := range groups {
		b.WriteString(g.Name + " " + strings.Repeat("r", len(g.Rules)) + " ")
	}
	for _, i := range insts {
		b.WriteString(i.ID + " " + string(i.State) + " " + strings.Join(mapKeys(i.Tags), ","))
	}
	return b.String()
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestResponseShape checks a success document's frame: <ActionResponse xmlns=…><requestId>, and empty lists
// written as EC2 writes them.
func TestResponseShape(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, "DescribeKeyPairs")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := regexp.MustCompile(`^<\?xml version="1.0" encoding="UTF-8"\?>\n<DescribeKeyPairsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
		`<requestId>[-0-9a-f]{36}</requestId><keySet></keySet></DescribeKeyPairsResponse>$`)
	if !want.MatchString(r.body) {
		t.Fatalf("body:\n%s", r.body)
	}
	var doc struct {
		XMLName   xml.Name
		RequestID string `xml:"requestId"`
	}
	if err := xml.Unmarshal([]byte(r.body), &doc); err != nil || doc.RequestID != r.header.Get("X-Amzn-Requestid") {
		t.Fatalf("requestId %q vs header %q (%v)", doc.RequestID, r.header.Get("X-Amzn-Requestid"), err)
	}
}
