package server

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/swarm"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// SecretBackend is swarm mode's secrets (/secrets) and configs (/configs), in Berth's cluster types. A secret's
// data goes in (create, and update where it must be unchanged) and never comes back out.
type SecretBackend interface {
	CreateSecret(ctx context.Context, spec api.SecretSpec, data []byte) (string, error)
	Secrets(ctx context.Context, f filters.Args) ([]*api.Secret, error)
	Secret(ctx context.Context, ref string) (*api.Secret, error)
	UpdateSecret(ctx context.Context, ref string, version uint64, spec api.SecretSpec, data []byte) error
	RemoveSecret(ctx context.Context, ref string) error

	CreateConfig(ctx context.Context, spec api.ConfigSpec) (string, error)
	Configs(ctx context.Context, f filters.Args) ([]*api.Config, error)
	ConfigObject(ctx context.Context, ref string) (*api.Config, error)
	UpdateConfig(ctx context.Context, ref string, version uint64, spec api.ConfigSpec) error
	RemoveConfig(ctx context.Context, ref string) error
}

func (s *Server) secretRoutes() {
	m := s.mux
	m.HandleFunc("GET /secrets", s.secretList)
	m.HandleFunc("POST /secrets/create", s.secretCreate)
	m.HandleFunc("GET /secrets/{id}", s.secretInspect)
	m.HandleFunc("POST /secrets/{id}/update", s.secretUpdate)
	m.HandleFunc("DELETE /secrets/{id}", s.secretRemove)
	m.HandleFunc("GET /configs", s.configList)
	m.HandleFunc("POST /configs/create", s.configCreate)
	m.HandleFunc("GET /configs/{id}", s.configInspect)
	m.HandleFunc("POST /configs/{id}/update", s.configUpdate)
	m.HandleFunc("DELETE /configs/{id}", s.configRemove)
}

func driverFromDocker(d *swarm.Driver) *api.Driver {
	if d == nil {
		return nil
	}
	return &api.Driver{Name: d.Name, Options: d.Options}
}

func driverToDocker(d *api.Driver) *swarm.Driver {
	if d == nil {
		return nil
	}
	return &swarm.Driver{Name: d.Name, Options: d.Options}
}

func secretSpecFromDocker(in swarm.SecretSpec) (api.SecretSpec, []byte) {
	return api.SecretSpec{Annotations: api.Annotations{Name: in.Name, Labels: in.Labels},
		Driver: driverFromDocker(in.Driver), Templating: driverFromDocker(in.Templating)}, in.Data
}

// secretToDocker is a secret in docker's shape: never its data (moby's SecretFromGRPC leaves it out).
func secretToDocker(sec *api.Secret) swarm.Secret {
	return swarm.Secret{ID: sec.ID, Meta: metaToDocker(sec.Meta), Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: sec.Spec.Name, Labels: labelsOrEmpty(sec.Spec.Labels)},
		Driver:      driverToDocker(sec.Spec.Driver), Templating: driverToDocker(sec.Spec.Templating)}}
}

func configSpecFromDocker(in swarm.ConfigSpec) api.ConfigSpec {
	return api.ConfigSpec{Annotations: api.Annotations{Name: in.Name, Labels: in.Labels}, Data: in.Data,
		Templating: driverFromDocker(in.Templating)}
}

// configToDocker is a config in docker's shape, with its data.
func configToDocker(cf *api.Config) swarm.Config {
	return swarm.Config{ID: cf.ID, Meta: metaToDocker(cf.Meta), Spec: swarm.ConfigSpec{
		Annotations: swarm.Annotations{Name: cf.Spec.Name, Labels: labelsOrEmpty(cf.Spec.Labels)},
		Data:        cf.Spec.Data, Templating: driverToDocker(cf.Spec.Templating)}}
}

func (s *Server) secretList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	secrets, err := s.b.Swarm.Secrets(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]swarm.Secret, 0, len(secrets))
	for _, sec := range secrets {
		out = append(out, secretToDocker(sec))
	}
	writeJSON(w, 200, out)
}

func (s *Server) secretCreate(w http.ResponseWriter, r *http.Request) {
	var in swarm.SecretSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	spec, data := secretSpecFromDocker(in)
	id, err := s.b.Swarm.CreateSecret(r.Context(), spec, data)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: id})
}

func (s *Server) secretInspect(w http.ResponseWriter, r *http.Request) {
	sec, err := s.b.Swarm.Secret(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, secretToDocker(sec))
}

func (s *Server) secretUpdate(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r, "secret")
	if err != nil {
		writeError(w, err)
		return
	}
	var in swarm.SecretSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	spec, data := secretSpecFromDocker(in)
	if err := s.b.Swarm.UpdateSecret(r.Context(), r.PathValue("id"), version, spec, data); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) secretRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Swarm.RemoveSecret(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) configList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	configs, err := s.b.Swarm.Configs(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]swarm.Config, 0, len(configs))
	for _, cf := range configs {
		out = append(out, configToDocker(cf))
	}
	writeJSON(w, 200, out)
}

func (s *Server) configCreate(w http.ResponseWriter, r *http.Request) {
	var in swarm.ConfigSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.b.Swarm.CreateConfig(r.Context(), configSpecFromDocker(in))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: id})
}

func (s *Server) configInspect(w http.ResponseWriter, r *http.Request) {
	cf, err := s.b.Swarm.ConfigObject(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, configToDocker(cf))
}

func (s *Server) configUpdate(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r, "config")
	if err != nil {
		writeError(w, err)
		return
	}
	var in swarm.ConfigSpec
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err)
		return
	}
	if err := s.b.Swarm.UpdateConfig(r.Context(), r.PathValue("id"), version, configSpecFromDocker(in)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) configRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Swarm.RemoveConfig(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// The secrets and configs of a server without swarm: the node is in no swarm.

func (noSwarm) CreateSecret(context.Context, api.SecretSpec, []byte) (string, error) {
	return "", cluster.ErrNoSwarm
}
func (noSwarm) Secrets(context.Context, filters.Args) ([]*api.Secret, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) Secret(context.Context, string) (*api.Secret, error) { return nil, cluster.ErrNoSwarm }
func (noSwarm) UpdateSecret(context.Context, string, uint64, api.SecretSpec, []byte) error {
	return cluster.ErrNoSwarm
}
func (noSwarm) RemoveSecret(context.Context, string) error { return cluster.ErrNoSwarm }
func (noSwarm) CreateConfig(context.Context, api.ConfigSpec) (string, error) {
	return "", cluster.ErrNoSwarm
}
func (noSwarm) Configs(context.Context, filters.Args) ([]*api.Config, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) ConfigObject(context.Context, string) (*api.Config, error) {
	return nil, cluster.ErrNoSwarm
}
func (noSwarm) UpdateConfig(context.Context, string, uint64, api.ConfigSpec) error {
	return cluster.ErrNoSwarm
}
func (noSwarm) RemoveConfig(context.Context, string) error { return cluster.ErrNoSwarm }
