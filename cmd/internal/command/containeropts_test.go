package command

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// parseRun parses `run` flags and arguments the way the command does.
func parseRun(t *testing.T, args ...string) (*containerConfig, error) {
	t.Helper()
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	flags.SetInterspersed(false)
	var opts runOptions
	flags.BoolVarP(&opts.detach, "detach", "d", false, "")
	addCreateOptions(flags, &opts.createOptions, "running")
	copts := addContainerFlags(flags)
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	rest := flags.Args()
	if len(rest) == 0 {
		rest = []string{"alpine"}
	}
	copts.Image, copts.Args = rest[0], rest[1:]
	return copts.parse(flags)
}

func TestParseRunFlags(t *testing.T) {
	t.Setenv("BERTH_TEST_FROM_ENV", "from-env")
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\n\nFILE_VAR=1\n  SPACED=two words\nBERTH_TEST_FROM_ENV\nBERTH_TEST_UNSET_IN_FILE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	labelFile := filepath.Join(t.TempDir(), "labels")
	if err := os.WriteFile(labelFile, []byte("tier=db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := func(s string) network.Port { return network.MustParsePort(s) }

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *containerConfig)
	}{
		{name: "defaults", args: []string{"alpine", "echo", "hi"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.Image != "alpine" || !reflect.DeepEqual([]string(c.Config.Cmd), []string{"echo", "hi"}) {
				t.Errorf("image %q cmd %v", c.Config.Image, c.Config.Cmd)
			}
			if !c.Config.AttachStdout || !c.Config.AttachStderr || c.Config.AttachStdin || c.Config.OpenStdin {
				t.Errorf("attach flags: %+v", c.Config)
			}
			if c.HostConfig.NetworkMode != "" || c.NetworkingConfig != nil {
				t.Errorf("default network not omitted: %q %+v", c.HostConfig.NetworkMode, c.NetworkingConfig)
			}
			if c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
				t.Errorf("restart = %+v", c.HostConfig.RestartPolicy)
			}
			if c.HostConfig.Init != nil || c.Config.StopTimeout != nil || c.HostConfig.PidsLimit != nil {
				t.Error("unset options were sent")
			}
		}},
		{name: "memory", args: []string{"-m", "512m", "--memory-swap", "1g", "--shm-size", "64m", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.Memory != 512<<20 || c.HostConfig.MemorySwap != 1<<30 || c.HostConfig.ShmSize != 64<<20 {
				t.Errorf("memory %d swap %d shm %d", c.HostConfig.Memory, c.HostConfig.MemorySwap, c.HostConfig.ShmSize)
			}
		}},
		{name: "unlimited swap", args: []string{"--memory-swap", "-1", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.MemorySwap != -1 {
				t.Errorf("swap %d", c.HostConfig.MemorySwap)
			}
		}},
		{name: "cpus", args: []string{"--cpus", "1.5", "--cpu-shares", "512", "--cpuset-cpus", "0-1", "--pids-limit", "100", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			r := c.HostConfig.Resources
			if r.NanoCPUs != 1500000000 || r.CPUShares != 512 || r.CpusetCpus != "0-1" || r.PidsLimit == nil || *r.PidsLimit != 100 {
				t.Errorf("resources %+v", r)
			}
		}},
		{name: "named volume and anonymous volume", args: []string{"-v", "name:/data:ro", "-v", "/anon", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual(c.HostConfig.Binds, []string{"name:/data:ro"}) {
				t.Errorf("binds %v", c.HostConfig.Binds)
			}
			if _, ok := c.Config.Volumes["/anon"]; !ok || len(c.Config.Volumes) != 1 {
				t.Errorf("volumes %v", c.Config.Volumes)
			}
		}},
		{name: "relative bind made absolute", args: []string{"-v", "./dir:/d", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			wd, _ := os.Getwd()
			if want := filepath.Join(wd, "dir") + ":/d"; c.HostConfig.Binds[0] != want {
				t.Errorf("bind %q, want %q", c.HostConfig.Binds[0], want)
			}
		}},
		{name: "tmpfs mount", args: []string{"--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "--tmpfs", "/run:rw,size=64k", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			want := []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}}}
			if !reflect.DeepEqual(c.HostConfig.Mounts, want) {
				t.Errorf("mounts %+v", c.HostConfig.Mounts)
			}
			if c.HostConfig.Tmpfs["/run"] != "rw,size=64k" {
				t.Errorf("tmpfs %v", c.HostConfig.Tmpfs)
			}
		}},
		{name: "bind mount", args: []string{"--mount", "type=bind,source=/src,target=/dst,readonly", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			m := c.HostConfig.Mounts[0]
			if m.Type != mount.TypeBind || m.Source != "/src" || m.Target != "/dst" || !m.ReadOnly {
				t.Errorf("mount %+v", m)
			}
		}},
		{name: "publish udp", args: []string{"-p", "8080:80/udp", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if _, ok := c.Config.ExposedPorts[port("80/udp")]; !ok || len(c.Config.ExposedPorts) != 1 {
				t.Errorf("exposed %v", c.Config.ExposedPorts)
			}
			want := network.PortMap{port("80/udp"): {{HostPort: "8080"}}}
			if !reflect.DeepEqual(c.HostConfig.PortBindings, want) {
				t.Errorf("bindings %v", c.HostConfig.PortBindings)
			}
		}},
		{name: "publish with ip, range and expose", args: []string{"-p", "127.0.0.1:8000-8001:80-81", "-p", "9000", "--expose", "7000-7001/udp", "-P", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			lo := netip.MustParseAddr("127.0.0.1")
			want := network.PortMap{
				port("80/tcp"):   {{HostIP: lo, HostPort: "8000"}},
				port("81/tcp"):   {{HostIP: lo, HostPort: "8001"}},
				port("9000/tcp"): {{HostPort: ""}},
			}
			if !reflect.DeepEqual(c.HostConfig.PortBindings, want) {
				t.Errorf("bindings %v", c.HostConfig.PortBindings)
			}
			for _, p := range []string{"80/tcp", "81/tcp", "9000/tcp", "7000/udp", "7001/udp"} {
				if _, ok := c.Config.ExposedPorts[port(p)]; !ok {
					t.Errorf("%s not exposed", p)
				}
			}
			if !c.HostConfig.PublishAllPorts {
				t.Error("-P not set")
			}
		}},
		{name: "restart on-failure", args: []string{"--restart", "on-failure:3", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if c.HostConfig.RestartPolicy != (container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}) {
				t.Errorf("restart %+v", c.HostConfig.RestartPolicy)
			}
		}},
		{name: "env from flags and file", args: []string{"--env-file", envFile, "-e", "BERTH_TEST_FROM_ENV", "-e", "X=1", "-e", "BERTH_TEST_NOT_SET", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			want := []string{"FILE_VAR=1", "SPACED=two words", "BERTH_TEST_FROM_ENV=from-env", "BERTH_TEST_FROM_ENV=from-env", "X=1", "BERTH_TEST_NOT_SET"}
			if !reflect.DeepEqual(c.Config.Env, want) {
				t.Errorf("env %q\nwant %q", c.Config.Env, want)
			}
		}},
		{name: "labels", args: []string{"-l", "a=b", "--label", "flag", "--label-file", labelFile, "alpine"}, check: func(t *testing.T, c *containerConfig) {
			want := map[string]string{"a": "b", "flag": "", "tier": "db"}
			if !reflect.DeepEqual(c.Config.Labels, want) {
				t.Errorf("labels %v", c.Config.Labels)
			}
		}},
		{name: "interactive tty", args: []string{"-it", "--name", "x", "alpine", "sh"}, check: func(t *testing.T, c *containerConfig) {
			cfg := c.Config
			if !cfg.Tty || !cfg.OpenStdin || !cfg.AttachStdin || !cfg.StdinOnce {
				t.Errorf("config %+v", cfg)
			}
		}},
		{name: "attach only stderr", args: []string{"-a", "STDERR", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if c.Config.AttachStdout || !c.Config.AttachStderr || c.Config.AttachStdin {
				t.Errorf("config %+v", c.Config)
			}
		}},
		{name: "identity and process", args: []string{"-u", "1000:1000", "-w", "/work", "-h", "box", "--entrypoint", "/bin/sh", "--init", "--stop-signal", "SIGINT", "--stop-timeout", "5", "--read-only", "--privileged", "--runtime", "crun", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			cfg, hc := c.Config, c.HostConfig
			if cfg.User != "1000:1000" || cfg.WorkingDir != "/work" || cfg.Hostname != "box" || !reflect.DeepEqual([]string(cfg.Entrypoint), []string{"/bin/sh"}) {
				t.Errorf("config %+v", cfg)
			}
			if cfg.StopSignal != "SIGINT" || cfg.StopTimeout == nil || *cfg.StopTimeout != 5 {
				t.Errorf("stop %q %v", cfg.StopSignal, cfg.StopTimeout)
			}
			if hc.Init == nil || !*hc.Init || !hc.ReadonlyRootfs || !hc.Privileged || hc.Runtime != "crun" {
				t.Errorf("host config %+v", hc)
			}
		}},
		{name: "empty entrypoint resets", args: []string{"--entrypoint", "", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if !reflect.DeepEqual([]string(c.Config.Entrypoint), []string{""}) {
				t.Errorf("entrypoint %q", c.Config.Entrypoint)
			}
		}},
		{name: "security", args: []string{"--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", "label:disable", "--sysctl", "net.ipv4.ip_forward=1", "--ulimit", "nofile=1024:2048", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			hc := c.HostConfig
			if !reflect.DeepEqual(hc.CapAdd, []string{"NET_ADMIN"}) || !reflect.DeepEqual(hc.CapDrop, []string{"ALL"}) {
				t.Errorf("caps %v %v", hc.CapAdd, hc.CapDrop)
			}
			if !reflect.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges", "label=disable"}) {
				t.Errorf("security %v", hc.SecurityOpt)
			}
			if hc.Sysctls["net.ipv4.ip_forward"] != "1" || len(hc.Ulimits) != 1 || hc.Ulimits[0].Soft != 1024 || hc.Ulimits[0].Hard != 2048 {
				t.Errorf("sysctls %v ulimits %v", hc.Sysctls, hc.Ulimits)
			}
		}},
		{name: "network and dns", args: []string{"--network", "none", "--dns", "1.1.1.1", "--add-host", "db:10.0.0.2", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			hc := c.HostConfig
			if hc.NetworkMode != "none" || len(hc.DNS) != 1 || hc.DNS[0] != netip.MustParseAddr("1.1.1.1") || !reflect.DeepEqual(hc.ExtraHosts, []string{"db:10.0.0.2"}) {
				t.Errorf("host config %q %v %v", hc.NetworkMode, hc.DNS, hc.ExtraHosts)
			}
		}},
		{name: "user network with alias", args: []string{"--net", "backend", "--network-alias", "api", "--ip", "172.20.0.5", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			ep := c.NetworkingConfig.EndpointsConfig["backend"]
			if c.HostConfig.NetworkMode != "backend" || ep == nil || !reflect.DeepEqual(ep.Aliases, []string{"api"}) || ep.IPAMConfig.IPv4Address != netip.MustParseAddr("172.20.0.5") {
				t.Errorf("networking %+v", c.NetworkingConfig)
			}
		}},
		{name: "rm sets auto-remove", args: []string{"--rm", "alpine"}, check: func(t *testing.T, c *containerConfig) {
			if !c.HostConfig.AutoRemove {
				t.Error("AutoRemove not set")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseRun(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestParseRunErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "bad memory", args: []string{"-m", "12x"}, want: `invalid argument "12x" for "-m, --memory" flag`},
		{name: "too precise cpus", args: []string{"--cpus", "0.0000000001"}, want: "value is too precise"},
		{name: "bad port", args: []string{"-p", "foo"}, want: "invalid containerPort: foo"},
		{name: "bad proto", args: []string{"-p", "80/xyz"}, want: "invalid proto: xyz"},
		{name: "rm and restart", args: []string{"--rm", "--restart", "always"}, want: "conflicting options: cannot specify both --restart and --rm"},
		{name: "bad restart", args: []string{"--restart", "sometimes"}, want: "invalid restart policy: unknown policy 'sometimes'"},
		{name: "bad retry count", args: []string{"--restart", "on-failure:x"}, want: "maximum retry count must be an integer"},
		{name: "bad mount", args: []string{"--mount", "type=tmpfs,target=/t,tmpfs-size=lots"}, want: "invalid value for tmpfs-size: lots"},
		{name: "mount without target", args: []string{"--mount", "type=volume,source=v"}, want: "target is required"},
		{name: "bad attach", args: []string{"-a", "stdfoo"}, want: "valid streams are STDIN, STDOUT and STDERR"},
		{name: "too many colons", args: []string{"-v", "a:b:c:d"}, want: "too many colons"},
		{name: "missing env file", args: []string{"--env-file", "/nonexistent/env"}, want: "--env-file: open /nonexistent/env"},
		{name: "bad dns", args: []string{"--dns", "not-an-ip"}, want: "not-an-ip is not an ip address"},
		{name: "swappiness range", args: []string{"--memory-swappiness", "200"}, want: "Valid memory swappiness range is 0-100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRun(t, append(tt.args, "alpine")...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
