package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/manager"
	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/version"
	"github.com/berth/berth/internal/volume"
)

// openSwarm makes the node's swarm side and resumes the membership kept under <data-root>/swarm, if any.
func (d *Daemon) openSwarm(ctx context.Context) error {
	cfg := d.cfg
	if (cfg.SwarmEtcdCAFile != "" || cfg.SwarmEtcdCertFile != "" || cfg.SwarmEtcdKeyFile != "") && len(cfg.SwarmEtcdEndpoints) == 0 {
		return errdefs.ErrInvalidArgument.WithMessage("the swarm's external etcd settings need --swarm-etcd-endpoints")
	}
	if (cfg.SwarmEtcdCertFile == "") != (cfg.SwarmEtcdKeyFile == "") {
		return errdefs.ErrInvalidArgument.WithMessage("--swarm-etcd-certfile and --swarm-etcd-keyfile go together")
	}
	for _, e := range cfg.SwarmEtcdEndpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --swarm-etcd-endpoints %q: a URL such as https://10.0.0.5:2379", e))
		}
	}
	d.swarm = cluster.New(cluster.Config{
		Root:     filepath.Join(cfg.DataRoot, "swarm"),
		RunRoot:  filepath.Join(cfg.ExecRoot, "swarm"),
		Describe: d.describeNode,
		External: manager.External{Endpoints: cfg.SwarmEtcdEndpoints,
			TLS: manager.TLSFiles{CA: cfg.SwarmEtcdCAFile, Cert: cfg.SwarmEtcdCertFile, Key: cfg.SwarmEtcdKeyFile}},
		StorePrefix: cfg.SwarmEtcdPrefix,
		Logger:      slog.Default(),
		Executor:    swarmExecutor{d},
		Events: func(typ, action, id string, attrs map[string]string) {
			d.events.Publish(berthevents.Type(typ), berthevents.Action(action), id, attrs)
		},
	})
	return d.swarm.Start(ctx)
}

// Swarm is the node's swarm side.
func (d *Daemon) Swarm() *cluster.Cluster { return d.swarm }

// describeNode is what this node tells the swarm of itself.
func (d *Daemon) describeNode() api.NodeDescription {
	host, _ := os.Hostname()
	desc := api.NodeDescription{
		Hostname:  host,
		Platform:  api.Platform{OS: goruntime.GOOS, Architecture: unameMachine()},
		Resources: api.Resources{NanoCPUs: int64(numCPU()) * 1e9, MemoryBytes: int64(cgroups.HostMemory())},
		Engine: api.EngineDescription{EngineVersion: version.Version, Plugins: []api.PluginDescription{
			{Type: "Log", Name: "json-file"}, {Type: "Log", Name: "local"}, {Type: "Network", Name: "bridge"},
			{Type: "Network", Name: "host"}, {Type: "Network", Name: "null"}, {Type: "Network", Name: "overlay"}, {Type: "Volume", Name: volume.DriverName}}},
	}
	return desc
}
