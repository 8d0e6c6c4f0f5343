package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/filters"
)

func newSecretStore(t *testing.T) (*store.Store, []byte) {
	t.Helper()
	return store.New(store.NewMemoryBackend()), ca.NewDataKey()
}

func annotations(name string, labels map[string]string) api.Annotations {
	return api.Annotations{Name: name, Labels: labels}
}

// Secrets and configs are created as swarmkit's control API checks them, in its words.
func TestCreateFileObjects(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxFileObjectSize)
	for _, tc := range []struct {
		name     string
		objName  string
		data     []byte
		driver   *api.Driver
		category error
		words    string
	}{
		{name: "ok", objName: "db_password", data: []byte("s3cret")},
		{name: "dots and dashes inside", objName: "a.b-c_d", data: []byte("dotted secret")}, // long enough that the sealed bytes never hold it by chance
		{name: "just under the limit", objName: "big", data: big[:MaxFileObjectSize-1]},
		{name: "no name", objName: "", data: []byte("x"), category: errdefs.ErrInvalidArgument,
			words: "rpc error: code = InvalidArgument desc = name must be provided"},
		{name: "bad start", objName: "-x", data: []byte("x"), category: errdefs.ErrInvalidArgument,
			words: "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"},
		{name: "slash", objName: "a/b", data: []byte("x"), category: errdefs.ErrInvalidArgument, words: "invalid name"},
		{name: "too long", objName: strings.Repeat("a", 65), data: []byte("x"), category: errdefs.ErrInvalidArgument, words: "invalid name"},
		{name: "empty data", objName: "e", data: nil, category: errdefs.ErrInvalidArgument,
			words: "data must be larger than 0 and less than 512000 bytes"},
		{name: "500 KB", objName: "big", data: big, category: errdefs.ErrInvalidArgument,
			words: "data must be larger than 0 and less than 512000 bytes"},
		{name: "a driver", objName: "d", data: []byte("x"), driver: &api.Driver{Name: "vault"}, category: errdefs.ErrInvalidArgument,
			words: "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, key := newSecretStore(t)
			sid, serr := createSecret(ctx, st, key, api.SecretSpec{Annotations: annotations(tc.objName, nil), Driver: tc.driver}, tc.data)
			var cerr error
			if tc.driver == nil {
				_, cerr = createConfig(ctx, st, api.ConfigSpec{Annotations: annotations(tc.objName, nil), Data: tc.data})
			}
			if tc.category == nil {
				if serr != nil || cerr != nil {
					t.Fatalf("secret: %v; config: %v", serr, cerr)
				}
				sec, err := lookupSecret(ctx, st, sid)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(sec.Spec.DataSealed, tc.data) {
					t.Fatal("the secret is stored in the clear")
				}
				if got, err := ca.Open(key, sec.Spec.DataSealed); err != nil || !bytes.Equal(got, tc.data) {
					t.Fatalf("the sealed data opens to %q, %v", got, err)
				}
				return
			}
			for what, err := range map[string]error{"secret": serr, "config": cerr} {
				if what == "config" && tc.driver != nil {
					continue
				}
				if !errorsIs(err, tc.category) || !strings.Contains(err.Error(), tc.words) {
					t.Errorf("%s: %v, want %v %q", what, err, tc.category, tc.words)
				}
			}
			if all, _ := store.List[api.Secret](ctx, st); len(all) != 0 {
				t.Errorf("a refused create left %d secrets", len(all))
			}
		})
	}
}

func errorsIs(err, cat error) bool {
	switch cat {
	case errdefs.ErrInvalidArgument:
		return errdefs.IsInvalidArgument(err)
	case errdefs.ErrAlreadyExists:
		return errdefs.IsAlreadyExists(err)
	case errdefs.ErrNotFound:
		return errdefs.IsNotFound(err)
	case errdefs.ErrConflict:
		return errdefs.IsConflict(err)
	}
	return false
}

// The lifecycle of a secret and a config: duplicates, lookups, filters, label-only updates, removal refused while
// a service uses them.
func TestFileObjectLifecycle(t *testing.T) {
	ctx := context.Background()
	st, key := newSecretStore(t)
	sid, err := createSecret(ctx, st, key, api.SecretSpec{Annotations: annotations("db_pw", map[string]string{"env": "prod"})}, []byte("pw1"))
	must(t, err)
	_, err = createSecret(ctx, st, key, api.SecretSpec{Annotations: annotations("api_key", map[string]string{"env": "dev"})}, []byte("k"))
	must(t, err)
	if _, err := createSecret(ctx, st, key, api.SecretSpec{Annotations: annotations("db_pw", nil)}, []byte("other")); !errdefs.IsAlreadyExists(err) ||
		err.Error() != "rpc error: code = AlreadyExists desc = secret db_pw already exists" {
		t.Fatalf("duplicate secret: %v", err)
	}
	cid, err := createConfig(ctx, st, api.ConfigSpec{Annotations: annotations("nginx.conf", nil), Data: []byte("server {}")})
	must(t, err)
	if _, err := createConfig(ctx, st, api.ConfigSpec{Annotations: annotations("nginx.conf", nil), Data: []byte("x")}); !errdefs.IsAlreadyExists(err) ||
		err.Error() != "rpc error: code = AlreadyExists desc = config nginx.conf already exists" {
		t.Fatalf("duplicate config: %v", err)
	}

	for _, tc := range []struct {
		name    string
		filters filters.Args
		want    []string
		err     string
	}{
		{name: "all", want: []string{"api_key", "db_pw"}},
		{name: "name prefix", filters: filters.NewArgs(filters.Arg("name", "db")), want: []string{"db_pw"}},
		{name: "names exact", filters: filters.NewArgs(filters.Arg("names", "db")), want: nil},
		{name: "id prefix", filters: filters.NewArgs(filters.Arg("id", sid[:6])), want: []string{"db_pw"}},
		{name: "label key", filters: filters.NewArgs(filters.Arg("label", "env")), want: []string{"api_key", "db_pw"}},
		{name: "label value", filters: filters.NewArgs(filters.Arg("label", "env=dev")), want: []string{"api_key"}},
		{name: "unknown filter", filters: filters.NewArgs(filters.Arg("driver", "x")), err: "invalid filter 'driver'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listSecrets(ctx, st, tc.filters)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			must(t, err)
			var names []string
			for _, s := range got {
				names = append(names, s.Spec.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", names, tc.want)
			}
		})
	}

	if _, err := lookupSecret(ctx, st, "nope"); !errdefs.IsNotFound(err) || err.Error() != "secret nope not found" {
		t.Fatalf("unknown secret: %v", err)
	}
	if _, err := lookupConfig(ctx, st, "nope"); !errdefs.IsNotFound(err) || err.Error() != "config nope not found" {
		t.Fatalf("unknown config: %v", err)
	}
	sec, err := lookupSecret(ctx, st, "db_pw")
	must(t, err)
	// Only labels change; the same data again (what stack deploy sends) is no change.
	if err := updateSecret(ctx, st, key, "db_pw", sec.Version, api.SecretSpec{Annotations: annotations("db_pw", nil)}, []byte("pw2")); !errdefs.IsInvalidArgument(err) ||
		err.Error() != "rpc error: code = InvalidArgument desc = only updates to Labels are allowed" {
		t.Fatalf("data change: %v", err)
	}
	if err := updateSecret(ctx, st, key, "db_pw", sec.Version+100, api.SecretSpec{Annotations: annotations("db_pw", nil)}, nil); !errdefs.IsConflict(err) ||
		!strings.Contains(err.Error(), "update out of sequence") {
		t.Fatalf("stale version: %v", err)
	}
	must(t, updateSecret(ctx, st, key, "db_pw", sec.Version, api.SecretSpec{Annotations: annotations("db_pw", map[string]string{"env": "staging"})}, []byte("pw1")))
	if sec, _ = lookupSecret(ctx, st, sid); sec.Spec.Labels["env"] != "staging" {
		t.Fatalf("labels after update: %v", sec.Spec.Labels)
	}
	cf, err := lookupConfig(ctx, st, cid)
	must(t, err)
	if err := updateConfig(ctx, st, cid, cf.Version, api.ConfigSpec{Annotations: annotations("nginx.conf", nil), Data: []byte("changed")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("config data change: %v", err)
	}

	// A service using both: neither can be removed, in swarmkit's words; the service referencing an unknown
	// secret is refused.
	spec := api.ServiceSpec{Annotations: annotations("web", nil), Mode: api.ModeReplicated, Replicas: new(uint64), Task: api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox",
		Secrets: []api.SecretReference{{SecretID: sid, SecretName: "db_pw", File: &api.FileTarget{Name: "db_pw"}}},
		Configs: []api.ConfigReference{{ConfigID: cid, ConfigName: "nginx.conf", File: &api.FileTarget{Name: "/etc/nginx.conf"}}}}}}
	_, err = createService(ctx, st, spec, "")
	must(t, err)
	bad := spec
	bad.Name = "bad"
	bad.Task.Container = &api.ContainerSpec{Image: "busybox", Secrets: []api.SecretReference{{SecretID: "gone", SecretName: "gone", File: &api.FileTarget{Name: "gone"}}}}
	if _, err := createService(ctx, st, bad, ""); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "secret not found: gone") {
		t.Fatalf("a service with an unknown secret: %v", err)
	}
	spec.Name = "api"
	_, err = createService(ctx, st, spec, "")
	must(t, err)
	if _, err := removeSecret(ctx, st, "db_pw"); !errdefs.IsInvalidArgument(err) ||
		err.Error() != "rpc error: code = InvalidArgument desc = secret 'db_pw' is in use by the following services: api, web" {
		t.Fatalf("rm of a secret in use: %v", err)
	}
	if _, err := removeConfig(ctx, st, cid); !errdefs.IsInvalidArgument(err) ||
		err.Error() != "rpc error: code = InvalidArgument desc = config 'nginx.conf' is in use by the following services: api, web" {
		t.Fatalf("rm of a config in use: %v", err)
	}
	for _, name := range []string{"web", "api"} {
		_, err := removeService(ctx, st, name)
		must(t, err)
	}
	if _, err := removeSecret(ctx, st, sid[:8]); err != nil {
		t.Fatalf("rm by ID prefix once unused: %v", err)
	}
	if _, err := removeConfig(ctx, st, "nginx.conf"); err != nil {
		t.Fatal(err)
	}
	if _, err := removeSecret(ctx, st, "db_pw"); !errdefs.IsNotFound(err) {
		t.Fatalf("rm of a removed secret: %v", err)
	}
}

// A secret is sealed in etcd itself: the raw value under its key holds no byte of the clear data, through a
// real manager's embedded etcd.
func TestSecretSealedInEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := newNode(t, 21)
	if _, err := n.Init(ctx, InitRequest{ListenAddr: addr(21) + ":2377", AdvertiseAddr: addr(21), Spec: api.DefaultClusterSpec()}); err != nil {
		t.Fatal(err)
	}
	clear := []byte("correct horse battery staple")
	id, err := n.CreateSecret(ctx, api.SecretSpec{Annotations: annotations("pw", nil)}, clear)
	must(t, err)
	m, err := n.managerStore()
	must(t, err)
	kvs, _, err := m.Store().Backend().Range(ctx, store.DefaultPrefix+"objects/"+string(api.KindSecret)+"/"+id, false, 0)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("raw secret: %v, %v", kvs, err)
	}
	raw := kvs[0].Value
	// JSON carries bytes as base64: neither the clear data nor its base64 may be there.
	if bytes.Contains(raw, clear) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(clear))) {
		t.Fatalf("etcd holds the secret in the clear: %s", raw)
	}
	if !bytes.Contains(raw, []byte(`"dataSealed"`)) {
		t.Fatalf("no sealed data in etcd's value: %s", raw)
	}
	// The dispatcher's unseal opens it (what a node running a task that uses it is sent).
	sec, err := n.Secret(ctx, "pw")
	must(t, err)
	if got, err := n.unseal(sec.Spec.DataSealed); err != nil || !bytes.Equal(got, clear) {
		t.Fatalf("unsealed: %q, %v", got, err)
	}
}
