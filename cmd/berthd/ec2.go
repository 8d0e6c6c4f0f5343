package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/ec2api"
	"github.com/berth/berth/internal/vm/instance"
	"github.com/berth/berth/internal/vm/secgroup"
)

// ec2Backend is the EC2 API's backend over the daemon's VM engine (the instance service): it converts types and
// errors, and scopes every call to the account that signed the request, so each account sees only its own
// instances, key pairs and security groups. (It lives with the binary: the layer table puts the daemon's wiring
// below the front ends, so internal/daemon may not know ec2api's types.)
//
// An instance's public address is its private one: the bridge address the host reaches it at (Berth has no
// elastic or NAT'ed public addresses; a client on the host ssh-es to PublicIpAddress as on EC2).
type ec2Backend struct{ vms *instance.Service }

var _ ec2api.Backend = ec2Backend{}

// account scopes ctx to the caller's account. The API refuses anonymous callers before calling a backend; one
// that got here anyway is refused again rather than seeing every account's resources.
func (b ec2Backend) account(ctx context.Context) (context.Context, error) {
	id := cloud.IdentityFrom(ctx)
	if id.Anonymous || id.AccountID == "" {
		return nil, &ec2api.Error{Code: ec2api.CodeAuthFailure, Message: "AWS was not able to validate the provided access credentials", Status: http.StatusUnauthorized}
	}
	return instance.WithAccount(ctx, id.AccountID), nil
}

// ec2Error gives the engine's errors EC2's code and words; the others go as they are (the API names the
// categories it can, and answers InternalError for the rest).
func ec2Error(err error) error {
	var ie *instance.Error
	if err == nil || !errors.As(err, &ie) || ie.Code == instance.CodeInternalError {
		return err
	}
	return &ec2api.Error{Code: ie.Code, Message: ie.Message}
}

func keyPairOf(k instance.KeyPair) ec2api.KeyPair {
	return ec2api.KeyPair{ID: k.ID, Name: k.Name, Type: k.Type, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, Created: k.Created, Tags: k.Tags}
}

func groupOf(g instance.SecurityGroup) ec2api.SecurityGroup {
	out := ec2api.SecurityGroup{ID: g.ID, Name: g.Name, Description: g.Description, Tags: g.Tags, Created: g.Created}
	for _, r := range g.Rules {
		out.Rules = append(out.Rules, ec2api.Rule(r))
	}
	return out
}

func rulesOf(rules []ec2api.Rule) []secgroup.Rule {
	out := make([]secgroup.Rule, len(rules))
	for i, r := range rules {
		out[i] = secgroup.Rule(r)
	}
	return out
}

func instanceOf(i instance.Instance) ec2api.Instance {
	return ec2api.Instance{ID: i.ID, ImageID: i.ImageID, Type: i.Type, KeyName: i.KeyName, SecurityGroups: i.SecurityGroups,
		Tags: i.Tags, State: ec2api.State(i.State), StateReason: i.StateReason, PrivateIP: i.PrivateIP, PublicIP: i.PrivateIP,
		Accel: i.Accel, LaunchTime: i.LaunchTime, DiskGiB: i.DiskGiB, ReservationID: i.ReservationID,
		LaunchIndex: i.LaunchIndex, ClientToken: i.ClientToken}
}

func (b ec2Backend) CreateKeyPair(ctx context.Context, name, keyType string, tags map[string]string) (ec2api.KeyPair, []byte, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.KeyPair{}, nil, err
	}
	k, priv, err := b.vms.CreateKeyPair(ctx, name, keyType, tags)
	return keyPairOf(k), priv, ec2Error(err)
}

func (b ec2Backend) ImportKeyPair(ctx context.Context, name, publicKey string, tags map[string]string) (ec2api.KeyPair, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.KeyPair{}, err
	}
	k, err := b.vms.ImportKeyPair(ctx, name, publicKey, tags)
	return keyPairOf(k), ec2Error(err)
}

func (b ec2Backend) KeyPairs(ctx context.Context) ([]ec2api.KeyPair, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	var out []ec2api.KeyPair
	for _, k := range b.vms.KeyPairs(ctx) {
		out = append(out, keyPairOf(k))
	}
	return out, nil
}

func (b ec2Backend) DeleteKeyPair(ctx context.Context, ref string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.DeleteKeyPair(ctx, ref))
}

func (b ec2Backend) CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (ec2api.SecurityGroup, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.SecurityGroup{}, err
	}
	g, err := b.vms.CreateSecurityGroup(ctx, name, description, tags)
	return groupOf(g), ec2Error(err)
}

func (b ec2Backend) SecurityGroups(ctx context.Context) ([]ec2api.SecurityGroup, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	var out []ec2api.SecurityGroup
	for _, g := range b.vms.SecurityGroups(ctx) {
		out = append(out, groupOf(g))
	}
	return out, nil
}

func (b ec2Backend) DeleteSecurityGroup(ctx context.Context, ref string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.DeleteSecurityGroup(ctx, ref))
}

func (b ec2Backend) AuthorizeIngress(ctx context.Context, ref string, rules []ec2api.Rule) (ec2api.SecurityGroup, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.SecurityGroup{}, err
	}
	g, err := b.vms.AuthorizeIngress(ctx, ref, rulesOf(rules))
	return groupOf(g), ec2Error(err)
}

func (b ec2Backend) RevokeIngress(ctx context.Context, ref string, rules []ec2api.Rule) (ec2api.SecurityGroup, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.SecurityGroup{}, err
	}
	g, err := b.vms.RevokeIngress(ctx, ref, rulesOf(rules))
	return groupOf(g), ec2Error(err)
}

func (b ec2Backend) Images(ctx context.Context) ([]ec2api.Image, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	list, err := b.vms.Images(ctx)
	if err != nil {
		return nil, ec2Error(err)
	}
	var out []ec2api.Image
	for _, img := range list {
		out = append(out, ec2api.Image{ID: img.ID, Names: img.Names, Created: img.Created, Architecture: img.Architecture, Size: img.Size, Tags: img.Tags})
	}
	return out, nil
}

func (b ec2Backend) Run(ctx context.Context, o ec2api.RunOptions) (ec2api.Instance, []string, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return ec2api.Instance{}, nil, err
	}
	inst, warnings, err := b.vms.Run(ctx, instance.RunOptions{Image: o.ImageID, Type: o.Type, KeyName: o.KeyName,
		SecurityGroups: o.SecurityGroups, UserData: o.UserData, Tags: o.Tags, DiskGiB: o.DiskGiB,
		ReservationID: o.ReservationID, LaunchIndex: o.LaunchIndex, ClientToken: o.ClientToken})
	if err != nil {
		return ec2api.Instance{}, nil, ec2Error(err)
	}
	return instanceOf(inst), warnings, nil
}

// Instances lists the account's instances, the terminated ones it keeps listing for an hour too.
func (b ec2Backend) Instances(ctx context.Context) ([]ec2api.Instance, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	var out []ec2api.Instance
	for _, i := range b.vms.List(ctx, true) {
		out = append(out, instanceOf(i))
	}
	return out, nil
}

func (b ec2Backend) Start(ctx context.Context, id string) ([]string, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	warnings, err := b.vms.Start(ctx, id)
	return warnings, ec2Error(err)
}

func (b ec2Backend) Stop(ctx context.Context, id string, force bool, timeout time.Duration) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.Stop(ctx, id, force, timeout))
}

func (b ec2Backend) Reboot(ctx context.Context, id string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.Reboot(ctx, id))
}

func (b ec2Backend) Terminate(ctx context.Context, id string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.Terminate(ctx, id))
}

func (b ec2Backend) ConsoleOutput(ctx context.Context, id string) ([]byte, error) {
	ctx, err := b.account(ctx)
	if err != nil {
		return nil, err
	}
	out, err := b.vms.ConsoleOutput(ctx, id)
	return out, ec2Error(err)
}

func (b ec2Backend) InstanceTypes(ctx context.Context) ([]ec2api.InstanceType, error) {
	var out []ec2api.InstanceType
	for _, t := range b.vms.Types() {
		out = append(out, ec2api.InstanceType(t))
	}
	return out, nil
}

func (b ec2Backend) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.CreateTags(ctx, resourceID, tags))
}

func (b ec2Backend) DeleteTags(ctx context.Context, resourceID string, keys []string) error {
	ctx, err := b.account(ctx)
	if err != nil {
		return err
	}
	return ec2Error(b.vms.DeleteTags(ctx, resourceID, keys))
}
