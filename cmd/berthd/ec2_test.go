package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/ec2api"
	"github.com/berth/berth/internal/vm/instance"
)

// oneImage is the engine's images as the VM service sees them: one, found by name or ID prefix. Its files cannot
// be had, so a launch fails where the root disk is made (after the checks this test is about).
type oneImage struct{}

const testImageID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func (oneImage) Resolve(ctx context.Context, ref string) (instance.Image, error) {
	if ref == "sshbox:latest" || (len(ref) > 11 && strings.HasPrefix(testImageID, ref)) {
		return instance.Image{ID: testImageID}, nil
	}
	return instance.Image{}, errdefs.ErrNotFound
}

func (oneImage) List(ctx context.Context) ([]instance.Image, error) {
	return []instance.Image{{ID: testImageID, Names: []string{"sshbox:latest"}, Architecture: "amd64", Size: 10 << 20,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}, nil
}

func (oneImage) RootFS(ctx context.Context, id string) (string, func(), error) {
	return "", nil, errors.New("no image files in this test")
}

// noNetworks is a host without networks: a launch never gets as far as one.
type noNetworks struct{}

func (noNetworks) NewSandbox(ctx context.Context, id string) (string, error) {
	return "", errors.New("no networks in this test")
}
func (noNetworks) SandboxPath(id string) string                       { return "" }
func (noNetworks) DeleteSandbox(ctx context.Context, id string) error { return nil }
func (noNetworks) Attach(ctx context.Context, id, name, network, nsPath string) (instance.Endpoint, error) {
	return instance.Endpoint{}, errors.New("no networks in this test")
}
func (noNetworks) DetachAll(ctx context.Context, id string)     {}
func (noNetworks) Endpoint(id string) (instance.Endpoint, bool) { return instance.Endpoint{}, false }

// ec2Env is the daemon's EC2 wiring without machines: the endpoint over a real IAM store (two accounts), the EC2
// API over ec2Backend over a real VM service in a temporary directory.
type ec2Env struct {
	url       string
	vms       *instance.Service
	one, two  *ec2.Client
	oneAcct   string
	twoAcct   string
	anonymous *ec2.Client
}

func newEC2Env(t *testing.T) *ec2Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := iam.Open(filepath.Join(dir, "cloud"), iam.WithRootCredentials("AKIAONEROOT000000001", "one-root-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	first, err := st.FirstAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, key2, err := st.CreateAccount(ctx, "tenant2")
	if err != nil {
		t.Fatal(err)
	}
	vms, err := instance.New(ctx, instance.Config{Root: filepath.Join(dir, "vm"), RunRoot: filepath.Join(dir, "run")}, oneImage{}, noNetworks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vms.Close() })
	ep := cloud.NewEndpoint(st)
	svc := ec2api.New(ec2Backend{vms}, ec2api.WithRegion(ep.Region()))
	t.Cleanup(func() { svc.Close() })
	ep.Register("ec2", svc)
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	client := func(key, secret string) *ec2.Client {
		o := ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1}
		if key != "" {
			o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "")
		} else {
			o.Credentials = aws.AnonymousCredentials{}
		}
		return ec2.New(o)
	}
	return &ec2Env{url: srv.URL, vms: vms, one: client("AKIAONEROOT000000001", "one-root-secret"), two: client(key2.ID, key2.Secret),
		oneAcct: first.ID, twoAcct: second.ID, anonymous: client("", "")}
}

// apiCode is the EC2 error code and message of err.
func apiCode(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

func wantAPIError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	if c, m := apiCode(err); c != code || !strings.Contains(m, msg) {
		t.Errorf("%s: %v, want %s: %s", what, err, code, msg)
	}
}

// The EC2 API over the VM engine: EC2's codes and words from the engine, each account its own key pairs,
// groups (and default group) and tags, Berth's images as AMIs, and Berth's own API seeing all of it.
func TestEC2Backend(t *testing.T) {
	e := newEC2Env(t)
	ctx := context.Background()

	// Key pairs: one name in both accounts; a duplicate in one is EC2's InvalidKeyPair.Duplicate.
	for _, c := range []*ec2.Client{e.one, e.two} {
		if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: ec2types.KeyTypeEd25519}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.one.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")})
	wantAPIError(t, "a duplicate key pair", err, "InvalidKeyPair.Duplicate", "The keypair 'k' already exists.")
	keys, err := e.one.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil || len(keys.KeyPairs) != 1 {
		t.Fatalf("account one's key pairs: %+v, %v", keys, err)
	}
	_, err = e.two.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: keys.KeyPairs[0].KeyPairId})
	wantAPIError(t, "account two deleting one's key pair", err, "InvalidKeyPair.NotFound", "does not exist")
	if got := e.vms.KeyPairs(ctx); len(got) != 2 || got[0].Owner == got[1].Owner {
		t.Errorf("Berth's own API sees both accounts' key pairs, with their owners: %+v", got)
	}

	// Security groups: each account has its own default group.
	groups := map[string][]string{}
	for name, c := range map[string]*ec2.Client{"one": e.one, "two": e.two} {
		out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.SecurityGroups {
			groups[name] = append(groups[name], aws.ToString(g.GroupName)+" "+aws.ToString(g.GroupId))
		}
	}
	if len(groups["one"]) != 1 || len(groups["two"]) != 1 || !strings.HasPrefix(groups["one"][0], "default sg-") || groups["one"][0] == groups["two"][0] {
		t.Fatalf("default groups: %v", groups)
	}
	web, err := e.one.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.one.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: web.GroupId,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.one.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: web.GroupId,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("0.0.0.0/0")})
	wantAPIError(t, "a duplicate rule", err, "InvalidPermission.Duplicate", "already exists")
	_, err = e.two.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(web.GroupId)}})
	wantAPIError(t, "account two describing one's group", err, "InvalidGroup.NotFound", "does not exist")

	// Images are the AMIs, for every account; their tags are each account's own.
	imgs, err := e.two.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) != 1 || aws.ToString(imgs.Images[0].ImageId) != "ami-0123456789abcdef0" ||
		aws.ToString(imgs.Images[0].Name) != "sshbox:latest" || imgs.Images[0].Architecture != ec2types.ArchitectureValuesX8664 {
		t.Fatalf("images: %+v, %v", imgs, err)
	}
	if _, err := e.one.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0123456789abcdef0", aws.ToString(web.GroupId), aws.ToString(keys.KeyPairs[0].KeyPairId)},
		Tags: []ec2types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("ops")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.one.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{"ami-0123456789abcdef0", aws.ToString(web.GroupId), aws.ToString(keys.KeyPairs[0].KeyPairId)},
		Tags: []ec2types.Tag{{Key: aws.String("team")}}}); err != nil {
		t.Fatal(err)
	}
	tagRows := func(c *ec2.Client) []string {
		out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, tg := range out.Tags {
			rows = append(rows, string(tg.ResourceType)+" "+aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
		sort.Strings(rows)
		return rows
	}
	if got := strings.Join(tagRows(e.one), ", "); got != "image env=prod, key-pair env=prod, security-group env=prod" {
		t.Errorf("account one's tags: %s", got)
	}
	if got := tagRows(e.two); len(got) != 0 {
		t.Errorf("account two sees tags %q", got)
	}

	// A launch checks its references in the caller's account; one that fails leaves nothing.
	_, err = e.two.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SecurityGroupIds: []string{aws.ToString(web.GroupId)}})
	wantAPIError(t, "account two launching into one's group", err, "InvalidGroup.NotFound", aws.ToString(web.GroupId))
	_, err = e.one.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-00000000000000000"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	wantAPIError(t, "an unknown AMI", err, "InvalidAMIID.NotFound", "The image id '[ami-00000000000000000]' does not exist")
	_, err = e.one.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("k")})
	if c, _ := apiCode(err); c != "InternalError" {
		t.Errorf("a launch whose disk cannot be made: %v", err)
	}
	if got := e.vms.List(ctx, true); len(got) != 0 {
		t.Errorf("a failed launch left instances: %+v", got)
	}
	_, err = e.one.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantAPIError(t, "an unknown instance", err, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")

	_, err = e.anonymous.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	wantAPIError(t, "an unsigned request", err, "AuthFailure", "AWS was not able to validate the provided access credentials")
}

// The adapter's conversions: instances show their bridge address as their public one, and engine errors
// carry EC2's codes while the others stay as they are.
func TestEC2BackendConversions(t *testing.T) {
	inst := instance.Instance{ID: "i-0123456789abcdef0", State: instance.Running, ReservationID: "r-1", LaunchIndex: 1, ClientToken: "tok"}
	inst.PrivateIP = netip.MustParseAddr("172.17.0.5")
	got := instanceOf(inst)
	if got.PublicIP != got.PrivateIP || got.State != ec2api.Running || got.ReservationID != "r-1" || got.LaunchIndex != 1 || got.ClientToken != "tok" {
		t.Errorf("instance: %+v", got)
	}
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{name: "named by the engine", err: &instance.Error{Code: instance.CodeIncorrectInstanceState, Message: "no"}, wantCode: "IncorrectInstanceState"},
		{name: "the engine's internal error", err: &instance.Error{Code: instance.CodeInternalError, Message: "disk"}},
		{name: "anything else", err: errors.New("boom")},
		{name: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ec2Error(tt.err)
			var ae *ec2api.Error
			if errors.As(out, &ae) != (tt.wantCode != "") || (ae != nil && ae.Code != tt.wantCode) || (tt.wantCode == "" && out != tt.err) {
				t.Errorf("ec2Error(%v) = %v", tt.err, out)
			}
		})
	}
}
