package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	mobyclient "github.com/moby/moby/client"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// fakeSwarm has no secrets or configs (fakeFiles has).
var errNoFiles = errors.New("fakeSwarm keeps no secrets or configs")

func (f *fakeSwarm) CreateSecret(context.Context, api.SecretSpec, []byte) (string, error) {
	return "", errNoFiles
}
func (f *fakeSwarm) Secrets(context.Context, filters.Args) ([]*api.Secret, error) {
	return nil, errNoFiles
}
func (f *fakeSwarm) Secret(context.Context, string) (*api.Secret, error) { return nil, errNoFiles }
func (f *fakeSwarm) UpdateSecret(context.Context, string, uint64, api.SecretSpec, []byte) error {
	return errNoFiles
}
func (f *fakeSwarm) RemoveSecret(context.Context, string) error { return errNoFiles }
func (f *fakeSwarm) CreateConfig(context.Context, api.ConfigSpec) (string, error) {
	return "", errNoFiles
}
func (f *fakeSwarm) Configs(context.Context, filters.Args) ([]*api.Config, error) {
	return nil, errNoFiles
}
func (f *fakeSwarm) ConfigObject(context.Context, string) (*api.Config, error) {
	return nil, errNoFiles
}
func (f *fakeSwarm) UpdateConfig(context.Context, string, uint64, api.ConfigSpec) error {
	return errNoFiles
}
func (f *fakeSwarm) RemoveConfig(context.Context, string) error { return errNoFiles }

// fakeFiles is a swarm backend keeping secrets (with their data, which the routes must never show) and configs
// in memory, recording the data it was given.
type fakeFiles struct {
	*fakeSwarm
	secrets map[string]*api.Secret
	clear   map[string][]byte
	configs map[string]*api.Config
}

func (f *fakeFiles) CreateSecret(_ context.Context, spec api.SecretSpec, data []byte) (string, error) {
	for _, s := range f.secrets {
		if s.Spec.Name == spec.Name {
			return "", errdefs.ErrAlreadyExists.WithMessage("rpc error: code = AlreadyExists desc = secret " + spec.Name + " already exists")
		}
	}
	id := fmt.Sprintf("sec%d", len(f.secrets)+1)
	spec.DataSealed = []byte("sealed")
	f.secrets[id] = &api.Secret{ID: id, Meta: api.Meta{Version: 3}, Spec: spec}
	f.clear[id] = data
	return id, nil
}
func (f *fakeFiles) Secrets(_ context.Context, fl filters.Args) ([]*api.Secret, error) {
	var out []*api.Secret
	for _, s := range f.secrets {
		if fl.Contains("name") && !fl.ExactMatch("name", s.Spec.Name) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
func (f *fakeFiles) Secret(_ context.Context, ref string) (*api.Secret, error) {
	for _, s := range f.secrets {
		if s.ID == ref || s.Spec.Name == ref {
			return s, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("secret " + ref + " not found")
}
func (f *fakeFiles) UpdateSecret(ctx context.Context, ref string, version uint64, spec api.SecretSpec, data []byte) error {
	s, err := f.Secret(ctx, ref)
	if err != nil {
		return err
	}
	f.record("update secret %s version=%d labels=%v data=%q", s.ID, version, spec.Labels, data)
	return nil
}
func (f *fakeFiles) RemoveSecret(ctx context.Context, ref string) error {
	s, err := f.Secret(ctx, ref)
	if err != nil {
		return err
	}
	delete(f.secrets, s.ID)
	return nil
}
func (f *fakeFiles) CreateConfig(_ context.Context, spec api.ConfigSpec) (string, error) {
	id := fmt.Sprintf("cfg%d", len(f.configs)+1)
	f.configs[id] = &api.Config{ID: id, Meta: api.Meta{Version: 4}, Spec: spec}
	return id, nil
}
func (f *fakeFiles) Configs(context.Context, filters.Args) ([]*api.Config, error) {
	var out []*api.Config
	for _, c := range f.configs {
		out = append(out, c)
	}
	return out, nil
}
func (f *fakeFiles) ConfigObject(_ context.Context, ref string) (*api.Config, error) {
	for _, c := range f.configs {
		if c.ID == ref || c.Spec.Name == ref {
			return c, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("config " + ref + " not found")
}
func (f *fakeFiles) RemoveConfig(ctx context.Context, ref string) error {
	c, err := f.ConfigObject(ctx, ref)
	if err != nil {
		return err
	}
	delete(f.configs, c.ID)
	return nil
}

// The secret and config routes through docker's Go client: the data goes in, a secret's never comes back, a
// config's does; docker's statuses for the errors.
func TestSecretRoutes(t *testing.T) {
	f := &fakeFiles{fakeSwarm: newFakeSwarm(), secrets: map[string]*api.Secret{}, clear: map[string][]byte{}, configs: map[string]*api.Config{}}
	e := newFakeEngine()
	b := e.backends()
	b.Swarm = f
	srv := httptest.NewServer(New(b))
	t.Cleanup(srv.Close)
	c, err := mobyclient.New(mobyclient.WithHost("tcp://"+srv.Listener.Addr().String()), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	res, err := c.SecretCreate(ctx, mobyclient.SecretCreateOptions{Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw", Labels: map[string]string{"a": "b"}}, Data: []byte("hunter2")}})
	if err != nil || res.ID != "sec1" || string(f.clear["sec1"]) != "hunter2" {
		t.Fatalf("create: %+v, %v; stored %q", res, err, f.clear["sec1"])
	}
	if _, err := c.SecretCreate(ctx, mobyclient.SecretCreateOptions{Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Data: []byte("x")}}); !errdefs.IsConflict(err) && !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate: %v", err)
	}
	insp, err := c.SecretInspect(ctx, "pw", mobyclient.SecretInspectOptions{})
	if err != nil || insp.Secret.ID != "sec1" || insp.Secret.Spec.Data != nil || insp.Secret.Spec.Labels["a"] != "b" || insp.Secret.Version.Index != 3 {
		t.Fatalf("inspect: %+v, %v", insp.Secret, err)
	}
	if strings.Contains(string(insp.Raw), "hunter2") || strings.Contains(string(insp.Raw), "aHVudGVyMg") || strings.Contains(string(insp.Raw), "sealed") {
		t.Fatalf("inspect shows the data: %s", insp.Raw)
	}
	list, err := c.SecretList(ctx, mobyclient.SecretListOptions{Filters: mobyclient.Filters{}.Add("name", "pw")})
	if err != nil || len(list.Items) != 1 || list.Items[0].Spec.Data != nil {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if _, err := c.SecretInspect(ctx, "nope", mobyclient.SecretInspectOptions{}); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := c.SecretUpdate(ctx, "pw", mobyclient.SecretUpdateOptions{Version: swarm.Version{Index: 3},
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw", Labels: map[string]string{"c": "d"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); got != `update secret sec1 version=3 labels=map[c:d] data=""` {
		t.Errorf("update passed %q", got)
	}
	resp, err := http.Post(srv.URL+"/v1.47/secrets/pw/update", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("an update without a version: %v %v", resp, err)
	}
	if _, err := c.SecretRemove(ctx, "pw", mobyclient.SecretRemoveOptions{}); err != nil || len(f.secrets) != 0 {
		t.Fatalf("rm: %v", err)
	}

	cres, err := c.ConfigCreate(ctx, mobyclient.ConfigCreateOptions{Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.conf"}, Data: []byte("port=80")}})
	if err != nil || cres.ID != "cfg1" {
		t.Fatalf("config create: %+v, %v", cres, err)
	}
	cinsp, err := c.ConfigInspect(ctx, "app.conf", mobyclient.ConfigInspectOptions{})
	if err != nil || string(cinsp.Config.Spec.Data) != "port=80" || cinsp.Config.Spec.Labels == nil {
		t.Fatalf("config inspect: %+v, %v", cinsp.Config, err)
	}
	if _, err := c.ConfigRemove(ctx, "nope", mobyclient.ConfigRemoveOptions{}); !errdefs.IsNotFound(err) {
		t.Fatalf("config rm unknown: %v", err)
	}
}

// Outside a swarm, docker's 503 and words.
func TestSecretRoutesWithoutSwarm(t *testing.T) {
	srv := httptest.NewServer(New(newFakeEngine().backends()))
	t.Cleanup(srv.Close)
	c, err := mobyclient.New(mobyclient.WithHost("tcp://"+srv.Listener.Addr().String()), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if _, err := c.SecretList(ctx, mobyclient.SecretListOptions{}); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "This node is not part of a swarm") {
		t.Fatalf("secret ls outside a swarm: %v", err)
	}
	if _, err := c.ConfigCreate(ctx, mobyclient.ConfigCreateOptions{Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "x"}, Data: []byte("x")}}); !errdefs.IsUnavailable(err) {
		t.Fatalf("config create outside a swarm: %v", err)
	}
}
