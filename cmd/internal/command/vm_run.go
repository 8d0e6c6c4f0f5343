package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
)

func newVMRunCommand(c *CLI) *cobra.Command {
	var (
		name, typ, keyName, sshKey, user, userData, network string
		groups, allows, tags                                []string
		diskGiB                                             int
		detach                                              bool
	)
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE",
		Short: "Launch a virtual machine from an image",
		Long: "Launch a virtual machine from an image: its root disk is the image's files, its kernel the engine's.\n" +
			"Without --ssh-key or --key-name, a key pair is generated for it and kept for `berth vm ssh`.\n" +
			"Inbound traffic is denied unless its security groups (--security-group, --allow) allow it.",
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			req := vm.RunRequest{Image: args[0], Name: name, Type: typ, KeyName: keyName, User: user,
				SecurityGroups: groups, Network: network, DiskGiB: diskGiB, Tags: map[string]string{}}
			for _, t := range tags {
				k, v, _ := strings.Cut(t, "=")
				req.Tags[k] = v
			}
			if userData != "" {
				if req.UserData, err = os.ReadFile(userData); err != nil {
					return fmt.Errorf("user data: %w", err)
				}
			}
			var generated []byte
			keyPath := ""
			switch {
			case sshKey != "":
				pub, err := os.ReadFile(sshKey)
				if err != nil {
					return fmt.Errorf("--ssh-key: %w", err)
				}
				req.PublicKeys = []string{strings.TrimSpace(string(pub))}
				if priv := strings.TrimSuffix(sshKey, ".pub"); priv != sshKey {
					if _, err := os.Stat(priv); err == nil {
						keyPath, _ = filepath.Abs(priv)
					}
				}
			case keyName == "":
				priv, pub, err := generateSSHKey("berth-vm")
				if err != nil {
					return err
				}
				generated = priv
				req.PublicKeys = []string{pub}
			}
			var madeGroup string
			if len(allows) > 0 {
				g, err := allowGroup(ctx, apiClient, allows)
				if err != nil {
					return err
				}
				madeGroup = g.ID
				req.SecurityGroups = append(req.SecurityGroups, g.ID)
				if len(groups) == 0 {
					// As EC2's, a VM in an explicit group is not in "default" too: keep it there, so its
					// members still reach it, as they would without --allow.
					req.SecurityGroups = append(req.SecurityGroups, "default")
				}
			}
			resp, err := apiClient.VMRun(ctx, req)
			if err != nil {
				if madeGroup != "" {
					apiClient.SecurityGroupRemove(context.WithoutCancel(ctx), madeGroup)
				}
				return err
			}
			id := resp.Instance.ID
			if err := saveVMKey(id, generated, keyPath); err != nil {
				fmt.Fprintln(c.err, "WARNING: keeping the VM's SSH key:", err)
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(c.err, "WARNING:", w)
			}
			if !detach {
				if _, err := apiClient.VMWait(ctx, id, "running"); err != nil {
					return fmt.Errorf("VM %s: %w", id, err)
				}
			}
			fmt.Fprintln(c.out, id)
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVar(&name, "name", "", "Assign a name to the VM")
	f.StringVar(&typ, "type", "t2.micro", "Instance type (vCPUs and memory; see `berth vm types`)")
	f.StringVar(&keyName, "key-name", "", "Key pair whose public key the VM's user gets")
	f.StringVar(&sshKey, "ssh-key", "", "Public key file the VM's user gets (default: a key generated for the VM)")
	f.StringVar(&user, "user", "", `User the SSH key is installed for (default: the image's "berth.vm.user" label, else root)`)
	f.StringVar(&userData, "user-data", "", "File run once as root at first boot when it is a script (#!)")
	f.StringVar(&network, "network", "", "Network to connect the VM to")
	f.StringArrayVar(&groups, "security-group", nil, "Security group (ID or name) the VM is in (default: default)")
	f.StringArrayVar(&allows, "allow", nil, "Allow inbound PORT[/tcp|udp], FROM-TO[/PROTO], icmp or all (from anywhere), through a group made for the VM")
	f.StringArrayVar(&tags, "tag", nil, "Set a tag (KEY=VALUE)")
	f.IntVar(&diskGiB, "disk-size", 0, "Root disk size in GiB (default: the type's, 8)")
	f.BoolVarP(&detach, "detach", "d", false, "Return once the VM is launched, before it has booted")
	return cmd
}

// allowGroup makes a security group for --allow rules, named as EC2's console names its own: launch-wizard-N.
func allowGroup(ctx context.Context, apiClient *client.Client, allows []string) (vm.SecurityGroup, error) {
	var rules []vm.Rule
	for _, a := range allows {
		r, err := parseAllow(a)
		if err != nil {
			return vm.SecurityGroup{}, err
		}
		r.CIDRs = []string{"0.0.0.0/0"}
		rules = append(rules, r)
	}
	existing, err := apiClient.SecurityGroupList(ctx)
	if err != nil {
		return vm.SecurityGroup{}, err
	}
	names := map[string]bool{}
	for _, g := range existing {
		names[g.Name] = true
	}
	n := 1
	for names[fmt.Sprintf("launch-wizard-%d", n)] {
		n++
	}
	g, err := apiClient.SecurityGroupCreate(ctx, vm.GroupRequest{Name: fmt.Sprintf("launch-wizard-%d", n),
		Description: "launch-wizard-" + fmt.Sprint(n) + " created " + time.Now().UTC().Format(time.RFC3339) + " by berth vm run --allow"})
	if err != nil {
		return vm.SecurityGroup{}, err
	}
	if g, err = apiClient.SecurityGroupAuthorize(ctx, g.ID, rules); err != nil {
		apiClient.SecurityGroupRemove(context.WithoutCancel(ctx), g.ID)
		return vm.SecurityGroup{}, err
	}
	return g, nil
}

// saveVMKey keeps what `berth vm ssh` needs: the generated private key (0600), or the path of the user's own.
func saveVMKey(id string, generated []byte, keyPath string) error {
	if generated == nil && keyPath == "" {
		return nil
	}
	dir, err := vmConfigDir(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if generated != nil {
		return os.WriteFile(filepath.Join(dir, "id_ed25519"), generated, 0o600)
	}
	return os.WriteFile(filepath.Join(dir, "key"), []byte(keyPath+"\n"), 0o600)
}
