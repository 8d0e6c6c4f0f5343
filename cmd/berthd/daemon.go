package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/daemon"
	"github.com/berth/berth/internal/ec2api"
	"github.com/berth/berth/internal/server"
	berthversion "github.com/berth/berth/internal/version"
)

const defaultDaemonConfigFile = "/etc/berth/daemon.json"

// newDaemonCommand is `berth daemon`, and berthd's root when run as itself: dockerd's flags.
func newDaemonCommand() *cobra.Command {
	var cfg daemon.Config
	var configFile string
	var runtimes, logOpts []string
	cmd := &cobra.Command{
		Use:   "daemon [OPTIONS]",
		Short: "Run the Berth engine (the daemon serving the Docker Engine API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			flagFor := map[string]string{
				"data-root": "data-root", "exec-root": "exec-root", "hosts": "host", "pidfile": "pidfile",
				"log-level": "log-level", "debug": "debug", "default-runtime": "default-runtime", "tls": "tls",
				"tlsverify": "tlsverify", "tlscacert": "tlscacert", "tlscert": "tlscert", "tlskey": "tlskey",
				"insecure-registries": "insecure-registry", "registry-mirrors": "registry-mirror", "bridge": "bridge",
				"vm-kernel": "vm-kernel", "vm-accel": "vm-accel",
				"cloud-addr": "cloud-addr", "cloud-tlscert": "cloud-tlscert", "cloud-tlskey": "cloud-tlskey",
				"cloud-region": "cloud-region", "cloud-domains": "cloud-domain",
				"group": "group", "seccomp-profile": "seccomp-profile", "host-gateway-ip": "host-gateway-ip",
				"log-driver": "log-driver", "log-opts": "log-opt",
				"swarm-etcd-endpoints": "swarm-etcd-endpoints", "swarm-etcd-cafile": "swarm-etcd-cafile",
				"swarm-etcd-certfile": "swarm-etcd-certfile", "swarm-etcd-keyfile": "swarm-etcd-keyfile", "swarm-etcd-prefix": "swarm-etcd-prefix",
			}
			if cmd.Flags().Changed("config-file") || fileExists(configFile) {
				err := daemon.LoadConfigFile(configFile, &cfg, func(key string) bool {
					f, ok := flagFor[key]
					return ok && cmd.Flags().Changed(f)
				})
				if err != nil {
					return err
				}
			}
			for _, o := range logOpts {
				k, v, ok := strings.Cut(o, "=")
				if !ok {
					return fmt.Errorf("invalid --log-opt %q: expected KEY=VALUE", o)
				}
				if cfg.LogOpts == nil {
					cfg.LogOpts = map[string]string{}
				}
				cfg.LogOpts[k] = v
			}
			for _, rt := range runtimes {
				name, path, ok := strings.Cut(rt, "=")
				if !ok {
					return fmt.Errorf("invalid --add-runtime %q: expected NAME=PATH", rt)
				}
				if cfg.Runtimes == nil {
					cfg.Runtimes = map[string]daemon.RuntimeConfig{}
				}
				cfg.Runtimes[name] = daemon.RuntimeConfig{Path: path}
			}
			return runDaemon(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataRoot, "data-root", daemon.DefaultDataRoot, "Root directory of persistent Berth state")
	f.StringVar(&cfg.ExecRoot, "exec-root", daemon.DefaultExecRoot, "Root directory for execution state files")
	f.StringSliceVarP(&cfg.Hosts, "host", "H", nil, "Daemon socket(s) to connect to")
	f.StringVarP(&cfg.Pidfile, "pidfile", "p", "", "Path to use for daemon PID file (default: <exec-root>/berth.pid)")
	f.StringVarP(&cfg.LogLevel, "log-level", "l", "info", `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	f.BoolVarP(&cfg.Debug, "debug", "D", false, "Enable debug mode")
	f.StringVar(&configFile, "config-file", defaultDaemonConfigFile, "Daemon configuration file")
	f.StringVar(&cfg.DefaultRuntime, "default-runtime", "", "Default OCI runtime for containers (default: crun when installed, else runc)")
	f.StringVarP(&cfg.Bridge, "bridge", "b", "", `Linux bridge of the default "bridge" network ("none" disables it)`)
	f.StringArrayVar(&runtimes, "add-runtime", nil, "Register an additional OCI compatible runtime (NAME=PATH)")
	f.StringVar(&cfg.LogDriver, "log-driver", "json-file", "Default driver for container logs")
	f.StringArrayVar(&logOpts, "log-opt", nil, "Default log driver options for containers (KEY=VALUE)")
	f.BoolVar(&cfg.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	f.BoolVar(&cfg.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	f.StringVar(&cfg.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	f.StringVar(&cfg.TLSCert, "tlscert", "", "Path to TLS certificate file")
	f.StringVar(&cfg.TLSKey, "tlskey", "", "Path to TLS key file")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "Enable insecure registry communication")
	f.StringSliceVar(&cfg.RegistryMirrors, "registry-mirror", nil, "Preferred registry mirror")
	f.StringVar(&cfg.VMKernel, "vm-kernel", "", "Kernel of virtual machines: a vmlinuz, or a directory of unpacked linux-image packages (default <data-root>/vm/kernel)")
	f.StringVar(&cfg.VMAccel, "vm-accel", "", `Accelerator of virtual machines: "kvm", "tcg", or empty to choose`)
	f.BoolVar(&cfg.LiveRestore, "live-restore", true, "Keep containers alive while the daemon is down (always on in Berth)")
	f.StringVar(&cfg.CloudAddr, "cloud-addr", "", "Serve the cloud endpoint (S3, IAM, STS; EC2 when the daemon runs VMs) on this address, e.g. 127.0.0.1:9000 (off by default)")
	f.StringVar(&cfg.CloudTLSCert, "cloud-tlscert", "", "TLS certificate file of the cloud endpoint (serve HTTPS)")
	f.StringVar(&cfg.CloudTLSKey, "cloud-tlskey", "", "TLS key file of the cloud endpoint")
	f.StringVar(&cfg.CloudRegion, "cloud-region", "", `Region of the cloud endpoint (default "us-east-1")`)
	f.StringSliceVar(&cfg.CloudDomains, "cloud-domain", nil, `Domain under which BUCKET.DOMAIN names a bucket on the cloud endpoint (default "s3.localhost"); repeat for more`)
	f.StringVar(&cfg.HostGatewayIP, "host-gateway-ip", "", "IP address that the special 'host-gateway' string in --add-host resolves to (default: the default bridge's gateway)")
	f.StringVarP(&cfg.Group, "group", "G", "", `Group for the unix socket (default "docker")`)
	f.StringSliceVar(&cfg.SwarmEtcdEndpoints, "swarm-etcd-endpoints", nil, "Keep the swarm's state in this external etcd cluster (client URLs) instead of members embedded in the managers")
	f.StringVar(&cfg.SwarmEtcdCAFile, "swarm-etcd-cafile", "", "CA bundle that verifies the external etcd's servers")
	f.StringVar(&cfg.SwarmEtcdCertFile, "swarm-etcd-certfile", "", "Client certificate for the external etcd")
	f.StringVar(&cfg.SwarmEtcdKeyFile, "swarm-etcd-keyfile", "", "Client key for the external etcd")
	f.StringVar(&cfg.SwarmEtcdPrefix, "swarm-etcd-prefix", "", `Key prefix of the swarm in the external etcd (default "/berth/cluster/")`)
	f.StringVar(&cfg.SeccompProfile, "seccomp-profile", "", `Path to a seccomp profile for containers ("unconfined" for none; default: docker's)`)
	return cmd
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func runDaemon(ctx context.Context, cfg daemon.Config) error {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info", "":
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	default:
		return fmt.Errorf("unable to parse logging level: %s", cfg.LogLevel)
	}
	if cfg.Debug {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if os.Geteuid() != 0 {
		return errors.New("berth daemon needs to be run as root")
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []string{daemon.DefaultHost}
	}
	if cfg.Pidfile == "" {
		cfg.Pidfile = filepath.Join(cfg.ExecRoot, "berth.pid")
	}
	if err := writePidfile(cfg.Pidfile); err != nil {
		return err
	}
	defer os.Remove(cfg.Pidfile)

	var tlsCfg *tls.Config
	if cfg.TLSVerify || cfg.TLS {
		if !cfg.TLSVerify {
			return errors.New("--tls without --tlsverify is refused: the API must authenticate clients by certificate")
		}
		c, err := server.TLSConfig(cfg.TLSCACert, cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		tlsCfg = c
	}

	// The cloud endpoint's settings are checked and its port taken before the daemon starts: a bad one stops
	// the start with nothing changed.
	var cloudL net.Listener
	var cloudTLS *tls.Config
	cloudOpts := cloudOptions{addr: cfg.CloudAddr, tlsCert: cfg.CloudTLSCert, tlsKey: cfg.CloudTLSKey,
		region: cfg.CloudRegion, domains: cfg.CloudDomains, debugName: "cloud endpoint"}
	if cfg.CloudAddr == "" && (cfg.CloudTLSCert != "" || cfg.CloudTLSKey != "" || cfg.CloudRegion != "" || len(cfg.CloudDomains) > 0) {
		return errors.New("the cloud endpoint's settings need --cloud-addr (or \"cloud-addr\" in daemon.json)")
	}
	if cfg.CloudAddr != "" {
		if (cfg.CloudTLSCert == "") != (cfg.CloudTLSKey == "") {
			return errors.New("--cloud-tlscert and --cloud-tlskey go together")
		}
		var err error
		if cloudL, cloudTLS, err = cloudListener(cloudOpts); err != nil {
			return fmt.Errorf("cloud endpoint: %w", err)
		}
		defer cloudL.Close()
		cfg.CloudRootAccessKeyID, cfg.CloudRootSecretAccessKey, err = iam.RootCredentialsFromEnv()
		if err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	backends := server.Backends{
		Containers:   d.Containers(),
		Streams:      d.Containers(),
		Files:        d.Containers(),
		Exec:         d.Containers(),
		Images:       d.ImageService(),
		Distribution: d.DistributionService(),
		Build:        d.BuildService(),
		Networks:     d.NetworkService(),
		Volumes:      d.VolumeService(),
		System:       d,
		Events:       d.Events(),
		Swarm:        d.Swarm(),
	}
	if vms := d.VMService(); vms != nil {
		backends.VMs = vms
	}
	srv := server.New(backends, server.WithDebug(d.Debug()))
	gid, err := socketGroup(cfg.Group)
	if err != nil {
		return err
	}
	errc := make(chan error, len(cfg.Hosts)+1)
	// cloudDone is closed when the cloud endpoint has stopped serving: its stores close (d.Close) after that.
	cloudDone := make(chan struct{})
	if cloudL != nil {
		ep := newCloudEndpoint(d.Cloud(), cloudOpts, slog.Default())
		// Services of the endpoint over the daemon's own: EC2 over the VM engine, when the daemon runs VMs. Its
		// Close (deferred: after the endpoint stopped, before the daemon closes) waits for the stops and
		// terminations it runs detached from their requests.
		if vms := d.VMService(); vms != nil {
			ec2 := ec2api.New(ec2Backend{vms}, ec2api.WithRegion(ep.Region()), ec2api.WithLogger(slog.Default()))
			ep.Register("ec2", ec2)
			defer ec2.Close()
		}
		go func() {
			defer close(cloudDone)
			if err := serveCloud(ctx, cloudL, cloudTLS, ep, cloudOpts, slog.Default()); err != nil {
				errc <- fmt.Errorf("cloud endpoint: %w", err)
			}
		}()
	} else {
		close(cloudDone)
	}
	defer func() { stop(); <-cloudDone }()
	for _, h := range cfg.Hosts {
		l, err := server.Listen(h, tlsCfg, gid)
		if err != nil {
			return err
		}
		slog.Info("API listening", "address", h)
		go func() { errc <- srv.Serve(ctx, l) }()
	}
	slog.Info("Berth daemon started", "version", berthversion.Version, "data-root", cfg.DataRoot, "exec-root", cfg.ExecRoot)
	select {
	case <-ctx.Done():
		slog.Info("shutting down; running containers keep running")
		return nil
	case err := <-errc:
		return err
	}
}

// writePidfile refuses to start over a pidfile whose process is alive, as dockerd does.
func writePidfile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if err := syscall.Kill(pid, 0); err == nil {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
					return fmt.Errorf("pid file found, ensure berth is not running or delete %s", path)
				}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// socketGroup resolves -G (a group name or ID; "" for the default, docker) to the gid owning the API's unix
// sockets. The default group may be missing: the sockets are then root's only, as dockerd does; a group asked
// for that does not exist is an error.
func socketGroup(name string) (int, error) {
	explicit := name != ""
	if !explicit {
		name = "docker"
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		if g, err = user.LookupGroupId(name); err != nil {
			if !explicit {
				slog.Debug("no docker group: the API socket is root's only")
				return 0, nil
			}
			return 0, fmt.Errorf("group %s not found", name)
		}
	}
	return strconv.Atoi(g.Gid)
}
