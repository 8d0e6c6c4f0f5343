package cluster

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/filters"
)

// The secrets and configs API of a manager (docker's /secrets and /configs), over the store, checked as
// swarmkit's control API checks them and in its words. A secret's data is sealed with the cluster's data key
// before it reaches the store and is never returned; the dispatcher opens it only to send it to a node running
// a task that uses it. Only labels can change after creation, and an object a service uses cannot be removed.

// MaxFileObjectSize bounds a secret's or config's data (swarmkit's MaxSecretSize and MaxConfigSize: 500 KB).
const MaxFileObjectSize = 500 * 1024

// validFileObjectName is swarmkit's isValidConfigOrSecretName.
var validFileObjectName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

// errNoDataKey is a manager without the cluster's data key (it cannot happen on an unlocked manager).
var errNoDataKey = errors.New("this manager has no data key to seal secrets with")

func invalidArg(format string, args ...any) error {
	return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", format, args...)
}

// checkFileObject validates a secret's or config's name, data and drivers as swarmkit's control API does.
func checkFileObject(kind string, name string, data []byte, driver, templating *api.Driver) error {
	if name == "" {
		return invalidArg("name must be provided")
	}
	if len(name) > 64 || !validFileObjectName.MatchString(name) {
		return invalidArg("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	}
	if templating != nil && templating.Name != "" {
		return invalidArg("templating driver %q is not supported: %s data is used as it is", templating.Name, kind)
	}
	if driver != nil && driver.Name != "" {
		return invalidArg("secret driver %q is not supported: Berth stores secrets in the cluster store only", driver.Name)
	}
	if len(data) >= MaxFileObjectSize || len(data) < 1 {
		return invalidArg("%s data must be larger than 0 and less than %d bytes", kind, MaxFileObjectSize)
	}
	return nil
}

// matchFileObject applies docker's secret and config list filters: names (exact), name and id (prefixes),
// label.
func matchFileObject(f filters.Args, id, name string, labels map[string]string) bool {
	if ns := f.Get("names"); len(ns) > 0 && !contains(ns, name) {
		return false
	}
	if ns := f.Get("name"); len(ns) > 0 && !anyPrefix(name, ns) {
		return false
	}
	if ids := f.Get("id"); len(ids) > 0 && !anyPrefix(id, ids) {
		return false
	}
	return f.MatchKVList("label", labels)
}

// usedBy names the services whose current spec uses an object (refs lists a spec's references' IDs), or
// refuses with swarmkit's words.
func usedBy(ctx context.Context, tx *store.Tx, kind, name, id string, refs func(*api.ContainerSpec) []string) error {
	services, err := store.List[api.Service](ctx, tx)
	if err != nil {
		return err
	}
	var names []string
	for _, s := range services {
		if c := s.Spec.Task.Container; c != nil && slices.Contains(refs(c), id) {
			names = append(names, s.Spec.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	what := "service"
	if len(names) > 1 {
		what = "services"
	}
	return invalidArg("%s '%s' is in use by the following %s: %v", kind, name, what, strings.Join(names, ", "))
}

func secretRefs(c *api.ContainerSpec) []string {
	out := make([]string, 0, len(c.Secrets))
	for _, r := range c.Secrets {
		out = append(out, r.SecretID)
	}
	return out
}

func configRefs(c *api.ContainerSpec) []string {
	out := make([]string, 0, len(c.Configs))
	for _, r := range c.Configs {
		out = append(out, r.ConfigID)
	}
	return out
}

func secretName(s *api.Secret) string { return s.Spec.Name }
func configName(c *api.Config) string { return c.Spec.Name }

// lookupSecret finds a secret by ID, name or ID prefix (moby's getSecret).
func lookupSecret(ctx context.Context, r store.Reader, ref string) (*api.Secret, error) {
	all, err := store.List[api.Secret](ctx, r)
	if err != nil {
		return nil, err
	}
	return lookupNamed(all, ref, "secret", secretName)
}

// lookupConfig finds a config by ID, name or ID prefix (moby's getConfig).
func lookupConfig(ctx context.Context, r store.Reader, ref string) (*api.Config, error) {
	all, err := store.List[api.Config](ctx, r)
	if err != nil {
		return nil, err
	}
	return lookupNamed(all, ref, "config", configName)
}

func (c *Cluster) sealKey() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dataKey
}

// CreateSecret stores a new secret with data sealed; it returns the secret's ID.
func (c *Cluster) CreateSecret(ctx context.Context, spec api.SecretSpec, data []byte) (string, error) {
	m, err := c.managerStore()
	if err != nil {
		return "", err
	}
	id, err := createSecret(ctx, m.Store(), c.sealKey(), spec, data)
	if err == nil {
		c.log.Info("secret created", "secret", id, "name", spec.Name)
	}
	return id, err
}

func createSecret(ctx context.Context, st *store.Store, key []byte, spec api.SecretSpec, data []byte) (string, error) {
	if err := checkFileObject("secret", spec.Name, data, spec.Driver, spec.Templating); err != nil {
		return "", err
	}
	if len(key) == 0 {
		return "", errNoDataKey
	}
	sealed, err := ca.Seal(key, data)
	if err != nil {
		return "", err
	}
	spec.DataSealed = sealed
	s := &api.Secret{ID: api.NewID(), Spec: spec}
	err = st.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, s) })
	if errdefs.IsAlreadyExists(err) {
		return "", api.RPCError(errdefs.ErrAlreadyExists, "AlreadyExists", "secret %s already exists", spec.Name)
	}
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

// Secrets lists the secrets that pass f (docker's: names, name, id, label), sorted by name.
func (c *Cluster) Secrets(ctx context.Context, f filters.Args) ([]*api.Secret, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	return listSecrets(ctx, m.Store(), f)
}

func listSecrets(ctx context.Context, st *store.Store, f filters.Args) ([]*api.Secret, error) {
	if err := f.Validate("names", "name", "id", "label"); err != nil {
		return nil, err
	}
	all, err := store.List[api.Secret](ctx, st)
	if err != nil {
		return nil, err
	}
	out := []*api.Secret{}
	for _, s := range all {
		if matchFileObject(f, s.ID, s.Spec.Name, s.Spec.Labels) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

// Secret is one secret, by ID, name or ID prefix.
func (c *Cluster) Secret(ctx context.Context, ref string) (*api.Secret, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	return lookupSecret(ctx, m.Store(), ref)
}

// UpdateSecret changes a secret's labels at version; its name and data cannot change (data, if given, must be
// the secret's).
func (c *Cluster) UpdateSecret(ctx context.Context, ref string, version uint64, spec api.SecretSpec, data []byte) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	return updateSecret(ctx, m.Store(), c.sealKey(), ref, version, spec, data)
}

func updateSecret(ctx context.Context, st *store.Store, key []byte, ref string, version uint64, spec api.SecretSpec, data []byte) error {
	err := st.Update(ctx, func(tx *store.Tx) error {
		s, err := lookupSecret(ctx, tx, ref)
		if err != nil {
			return err
		}
		if s.Version != version {
			return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
		}
		same := s.Spec.Name == spec.Name
		if same && data != nil {
			cur, err := ca.Open(key, s.Spec.DataSealed)
			if err != nil {
				return fmt.Errorf("secret %s: %w", s.ID, err)
			}
			same = subtle.ConstantTimeCompare(cur, data) == 1
		}
		if !same {
			return invalidArg("only updates to Labels are allowed")
		}
		s.Spec.Labels = spec.Labels
		return store.Put(tx, s)
	})
	return outOfSequence(err)
}

// outOfSequence words a lost compare-and-swap as swarmkit does.
func outOfSequence(err error) error {
	if errdefs.IsConflict(err) && !strings.Contains(err.Error(), "update out of sequence") {
		return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
	}
	return err
}

// RemoveSecret removes a secret no service uses.
func (c *Cluster) RemoveSecret(ctx context.Context, ref string) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	id, err := removeSecret(ctx, m.Store(), ref)
	if err == nil {
		c.log.Info("secret removed", "secret", id)
	}
	return err
}

func removeSecret(ctx context.Context, st *store.Store, ref string) (string, error) {
	var id string
	err := st.Update(ctx, func(tx *store.Tx) error {
		s, err := lookupSecret(ctx, tx, ref)
		if err != nil {
			return err
		}
		id = s.ID
		if err := usedBy(ctx, tx, "secret", s.Spec.Name, s.ID, secretRefs); err != nil {
			return err
		}
		return store.Delete(tx, api.KindSecret, s.ID)
	})
	return id, err
}

// CreateConfig stores a new config; it returns the config's ID.
func (c *Cluster) CreateConfig(ctx context.Context, spec api.ConfigSpec) (string, error) {
	m, err := c.managerStore()
	if err != nil {
		return "", err
	}
	id, err := createConfig(ctx, m.Store(), spec)
	if err == nil {
		c.log.Info("config created", "config", id, "name", spec.Name)
	}
	return id, err
}

func createConfig(ctx context.Context, st *store.Store, spec api.ConfigSpec) (string, error) {
	if err := checkFileObject("config", spec.Name, spec.Data, nil, spec.Templating); err != nil {
		return "", err
	}
	cf := &api.Config{ID: api.NewID(), Spec: spec}
	err := st.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, cf) })
	if errdefs.IsAlreadyExists(err) {
		return "", api.RPCError(errdefs.ErrAlreadyExists, "AlreadyExists", "config %s already exists", spec.Name)
	}
	if err != nil {
		return "", err
	}
	return cf.ID, nil
}

// Configs lists the configs that pass f (docker's: names, name, id, label), sorted by name.
func (c *Cluster) Configs(ctx context.Context, f filters.Args) ([]*api.Config, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	return listConfigs(ctx, m.Store(), f)
}

func listConfigs(ctx context.Context, st *store.Store, f filters.Args) ([]*api.Config, error) {
	if err := f.Validate("names", "name", "id", "label"); err != nil {
		return nil, err
	}
	all, err := store.List[api.Config](ctx, st)
	if err != nil {
		return nil, err
	}
	out := []*api.Config{}
	for _, cf := range all {
		if matchFileObject(f, cf.ID, cf.Spec.Name, cf.Spec.Labels) {
			out = append(out, cf)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

// ConfigObject is one config, by ID, name or ID prefix.
func (c *Cluster) ConfigObject(ctx context.Context, ref string) (*api.Config, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	return lookupConfig(ctx, m.Store(), ref)
}

// UpdateConfig changes a config's labels at version; its name and data cannot change.
func (c *Cluster) UpdateConfig(ctx context.Context, ref string, version uint64, spec api.ConfigSpec) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	return updateConfig(ctx, m.Store(), ref, version, spec)
}

func updateConfig(ctx context.Context, st *store.Store, ref string, version uint64, spec api.ConfigSpec) error {
	err := st.Update(ctx, func(tx *store.Tx) error {
		cf, err := lookupConfig(ctx, tx, ref)
		if err != nil {
			return err
		}
		if cf.Version != version {
			return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
		}
		if cf.Spec.Name != spec.Name || (spec.Data != nil && string(spec.Data) != string(cf.Spec.Data)) {
			return invalidArg("only updates to Labels are allowed")
		}
		cf.Spec.Labels = spec.Labels
		return store.Put(tx, cf)
	})
	return outOfSequence(err)
}

// RemoveConfig removes a config no service uses.
func (c *Cluster) RemoveConfig(ctx context.Context, ref string) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	id, err := removeConfig(ctx, m.Store(), ref)
	if err == nil {
		c.log.Info("config removed", "config", id)
	}
	return err
}

func removeConfig(ctx context.Context, st *store.Store, ref string) (string, error) {
	var id string
	err := st.Update(ctx, func(tx *store.Tx) error {
		cf, err := lookupConfig(ctx, tx, ref)
		if err != nil {
			return err
		}
		id = cf.ID
		if err := usedBy(ctx, tx, "config", cf.Spec.Name, cf.ID, configRefs); err != nil {
			return err
		}
		return store.Delete(tx, api.KindConfig, cf.ID)
	})
	return id, err
}
