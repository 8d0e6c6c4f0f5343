package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/cmd/internal/cli"
)

// newVMCommand is the `vm` management group: EC2-style virtual machines from Berth's images.
func newVMCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("vm", "Manage virtual machines",
		newVMConsoleCommand(c),
		newVMInspectCommand(c),
		newVMKeyPairCommand(c),
		newVMLogsCommand(c),
		newVMLsCommand(c),
		newVMRestartCommand(c),
		newVMRmCommand(c),
		newVMRunCommand(c),
		newVMSecurityGroupCommand(c),
		newVMSSHCommand(c),
		newVMStartCommand(c),
		newVMStopCommand(c),
		newVMTypesCommand(c),
	)
}

// vmConfigDir is where the CLI keeps what it made for VMs: the SSH key it generates for a VM launched without
// one, and the host keys it has seen (~/.berth/vm/<id>/, or $BERTH_CONFIG/vm/<id>/).
func vmConfigDir(id string) (string, error) {
	base := os.Getenv("BERTH_CONFIG")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".berth")
	}
	return filepath.Join(base, "vm", id), nil
}

// generateSSHKey makes an ED25519 key pair with ssh-keygen (openssh-client, which `berth vm ssh` runs too) and
// returns its private key in OpenSSH's format and its public key line.
func generateSSHKey(comment string) (private []byte, public string, err error) {
	kg, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return nil, "", errors.New("ssh-keygen not found (openssh-client) to make the VM's key: give --ssh-key or --key-name")
	}
	dir, err := os.MkdirTemp("", "berth-vm-key-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command(kg, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", f).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("ssh-keygen: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if private, err = os.ReadFile(f); err != nil {
		return nil, "", err
	}
	pub, err := os.ReadFile(f + ".pub")
	return private, strings.TrimSpace(string(pub)), err
}

// parseAllow reads a rule as `vm run --allow` and `vm sg allow` take it: PORT[-PORT][/tcp|udp], icmp[/TYPE], or
// all. TCP is the default protocol.
func parseAllow(spec string) (vm.Rule, error) {
	bad := fmt.Errorf("invalid rule %q: want PORT[/tcp|udp], FROM-TO[/tcp|udp], icmp[/TYPE] or all", spec)
	ports, proto, hasProto := strings.Cut(strings.ToLower(spec), "/")
	switch {
	case ports == "all" && !hasProto:
		return vm.Rule{Protocol: "-1", FromPort: -1, ToPort: -1}, nil
	case ports == "icmp":
		r := vm.Rule{Protocol: "icmp", FromPort: -1, ToPort: -1}
		if hasProto {
			n, err := strconv.Atoi(proto)
			if err != nil || n < 0 || n > 255 {
				return vm.Rule{}, bad
			}
			r.FromPort = n
		}
		return r, nil
	}
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return vm.Rule{}, bad
	}
	from, to, isRange := strings.Cut(ports, "-")
	f, err := strconv.Atoi(from)
	if err != nil || f < 0 || f > 65535 {
		return vm.Rule{}, bad
	}
	t := f
	if isRange {
		if t, err = strconv.Atoi(to); err != nil || t < f || t > 65535 {
			return vm.Rule{}, bad
		}
	}
	return vm.Rule{Protocol: proto, FromPort: f, ToPort: t}, nil
}

// vmSSHTarget is how to reach a VM: its user and address, and the private key the CLI keeps for it (if any).
func vmSSHTarget(inst vm.Instance) (user, addr, key, knownHosts string, err error) {
	if inst.PrivateIP == "" {
		return "", "", "", "", fmt.Errorf("VM %s has no address: it is %s", inst.ID, inst.State)
	}
	dir, err := vmConfigDir(inst.ID)
	if err != nil {
		return "", "", "", "", err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "key")); err == nil {
		key = strings.TrimSpace(string(b))
	} else if _, err := os.Stat(filepath.Join(dir, "id_ed25519")); err == nil {
		key = filepath.Join(dir, "id_ed25519")
	}
	return inst.User, inst.PrivateIP, key, filepath.Join(dir, "known_hosts"), nil
}
