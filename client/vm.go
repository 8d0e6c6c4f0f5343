package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth/berth/api/vm"
)

// VMList lists the virtual machine instances (terminated ones too with all): GET /berth/vms.
func (c *Client) VMList(ctx context.Context, all bool) ([]vm.Instance, error) {
	q := url.Values{}
	boolQuery(q, "all", all)
	var out []vm.Instance
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/vms", query: q}, &out)
	return out, err
}

// VMRun launches an instance: POST /berth/vms. It returns once the machine runs (the instance pending).
func (c *Client) VMRun(ctx context.Context, req vm.RunRequest) (vm.RunResponse, error) {
	var out vm.RunResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/vms", json: req}, &out)
	return out, err
}

// VMInspect returns an instance by ID or name: GET /berth/vms/{id}.
func (c *Client) VMInspect(ctx context.Context, ref string) (vm.Instance, error) {
	var out vm.Instance
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/vms/" + pathEscape(ref)}, &out)
	return out, err
}

// VMStart starts a stopped instance: POST /berth/vms/{id}/start.
func (c *Client) VMStart(ctx context.Context, ref string) (vm.StartResponse, error) {
	var out vm.StartResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/vms/" + pathEscape(ref) + "/start"}, &out)
	return out, err
}

// VMStop shuts an instance down, killing its machine after timeout (0: the daemon's default) or at once with
// force: POST /berth/vms/{id}/stop.
func (c *Client) VMStop(ctx context.Context, ref string, force bool, timeout time.Duration) error {
	q := url.Values{}
	boolQuery(q, "force", force)
	if timeout > 0 {
		q.Set("t", strconv.Itoa(int(timeout/time.Second)))
	}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/vms/" + pathEscape(ref) + "/stop", query: q}, nil)
}

// VMRestart reboots a running instance's guest: POST /berth/vms/{id}/restart.
func (c *Client) VMRestart(ctx context.Context, ref string) error {
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/vms/" + pathEscape(ref) + "/restart"}, nil)
}

// VMRemove terminates an instance; a running one only with force: DELETE /berth/vms/{id}.
func (c *Client) VMRemove(ctx context.Context, ref string, force bool) error {
	q := url.Values{}
	boolQuery(q, "force", force)
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/berth/vms/" + pathEscape(ref), query: q}, nil)
}

// VMWait blocks until the instance is in state: POST /berth/vms/{id}/wait?state=STATE.
func (c *Client) VMWait(ctx context.Context, ref, state string) (vm.Instance, error) {
	var out vm.Instance
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/vms/" + pathEscape(ref) + "/wait",
		query: url.Values{"state": {state}}}, &out)
	return out, err
}

// VMConsoleOutput returns the last 64 KiB of an instance's serial console: GET /berth/vms/{id}/console-output.
func (c *Client) VMConsoleOutput(ctx context.Context, ref string) ([]byte, error) {
	return c.doRaw(ctx, &request{method: http.MethodGet, path: "/berth/vms/" + pathEscape(ref) + "/console-output"})
}

// VMConsole attaches to a running instance's serial console: POST /berth/vms/{id}/console, hijacked.
func (c *Client) VMConsole(ctx context.Context, ref string) (*HijackedResponse, error) {
	return c.hijack(ctx, &request{method: http.MethodPost, path: "/berth/vms/" + pathEscape(ref) + "/console"})
}

// VMTypes lists the instance types: GET /berth/vm-types.
func (c *Client) VMTypes(ctx context.Context) ([]vm.InstanceType, error) {
	var out []vm.InstanceType
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/vm-types"}, &out)
	return out, err
}

// KeyPairCreate creates a key pair (the response holds its private key, once), or imports req.PublicKey:
// POST /berth/keypairs.
func (c *Client) KeyPairCreate(ctx context.Context, req vm.KeyPairRequest) (vm.KeyPairResponse, error) {
	var out vm.KeyPairResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/keypairs", json: req}, &out)
	return out, err
}

// KeyPairList lists the key pairs: GET /berth/keypairs.
func (c *Client) KeyPairList(ctx context.Context) ([]vm.KeyPair, error) {
	var out []vm.KeyPair
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/keypairs"}, &out)
	return out, err
}

// KeyPairInspect returns a key pair by name or ID: GET /berth/keypairs/{name}.
func (c *Client) KeyPairInspect(ctx context.Context, ref string) (vm.KeyPair, error) {
	var out vm.KeyPair
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/keypairs/" + pathEscape(ref)}, &out)
	return out, err
}

// KeyPairRemove deletes a key pair: DELETE /berth/keypairs/{name}.
func (c *Client) KeyPairRemove(ctx context.Context, ref string) error {
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/berth/keypairs/" + pathEscape(ref)}, nil)
}

// SecurityGroupCreate creates a security group: POST /berth/security-groups.
func (c *Client) SecurityGroupCreate(ctx context.Context, req vm.GroupRequest) (vm.SecurityGroup, error) {
	var out vm.SecurityGroup
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/security-groups", json: req}, &out)
	return out, err
}

// SecurityGroupList lists the security groups: GET /berth/security-groups.
func (c *Client) SecurityGroupList(ctx context.Context) ([]vm.SecurityGroup, error) {
	var out []vm.SecurityGroup
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/security-groups"}, &out)
	return out, err
}

// SecurityGroupInspect returns a security group by ID or name: GET /berth/security-groups/{id}.
func (c *Client) SecurityGroupInspect(ctx context.Context, ref string) (vm.SecurityGroup, error) {
	var out vm.SecurityGroup
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/berth/security-groups/" + pathEscape(ref)}, &out)
	return out, err
}

// SecurityGroupRemove deletes a security group: DELETE /berth/security-groups/{id}.
func (c *Client) SecurityGroupRemove(ctx context.Context, ref string) error {
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/berth/security-groups/" + pathEscape(ref)}, nil)
}

// SecurityGroupAuthorize adds inbound rules: POST /berth/security-groups/{id}/authorize.
func (c *Client) SecurityGroupAuthorize(ctx context.Context, ref string, rules []vm.Rule) (vm.SecurityGroup, error) {
	var out vm.SecurityGroup
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/security-groups/" + pathEscape(ref) + "/authorize",
		json: vm.RulesRequest{Rules: rules}}, &out)
	return out, err
}

// SecurityGroupRevoke removes inbound rules: POST /berth/security-groups/{id}/revoke.
func (c *Client) SecurityGroupRevoke(ctx context.Context, ref string, rules []vm.Rule) (vm.SecurityGroup, error) {
	var out vm.SecurityGroup
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/berth/security-groups/" + pathEscape(ref) + "/revoke",
		json: vm.RulesRequest{Rules: rules}}, &out)
	return out, err
}
