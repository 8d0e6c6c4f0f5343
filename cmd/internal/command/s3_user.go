package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/client/iam"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

// The `berth s3 user …` and `berth s3 account …` commands manage identities on a running cloud endpoint through
// its IAM API (client/iam), signed like the aws CLI signs: keys from --access-key-id/--secret-access-key, else
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
// ~/.aws/credentials, profile AWS_PROFILE or "default").

// s3AdminOptions are the connection flags every identity command takes.
type s3AdminOptions struct {
	endpoint, region, accessKey, secretKey, profile string
}

func (o *s3AdminOptions) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.endpoint, "endpoint-url", "", "The cloud endpoint's URL (default $AWS_ENDPOINT_URL_IAM, $AWS_ENDPOINT_URL, or http://localhost:9000)")
	f.StringVar(&o.region, "region", "", "Region to sign for (default $AWS_REGION, $AWS_DEFAULT_REGION, or us-east-1)")
	f.StringVar(&o.accessKey, "access-key-id", "", "Access key ID to sign with (default $AWS_ACCESS_KEY_ID)")
	f.StringVar(&o.secretKey, "secret-access-key", "", "Secret access key to sign with (default $AWS_SECRET_ACCESS_KEY; prefer the environment: flags show in ps)")
	f.StringVar(&o.profile, "profile", "", "Profile of the shared credentials file to sign with (default $AWS_PROFILE or \"default\")")
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// client builds the IAM client from flags, environment and shared credentials, in the aws CLI's order.
func (o *s3AdminOptions) client() (*iam.Client, error) {
	c := &iam.Client{
		Endpoint:        firstNonEmpty(o.endpoint, os.Getenv("AWS_ENDPOINT_URL_IAM"), os.Getenv("AWS_ENDPOINT_URL"), "http://localhost:9000"),
		Region:          firstNonEmpty(o.region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1"),
		AccessKeyID:     o.accessKey,
		SecretAccessKey: o.secretKey,
	}
	if !strings.Contains(c.Endpoint, "://") {
		return nil, fmt.Errorf("invalid --endpoint-url %q: it needs a scheme, e.g. http://%s", c.Endpoint, c.Endpoint)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return nil, errors.New("--access-key-id and --secret-access-key go together")
	}
	if c.AccessKeyID == "" && o.profile == "" {
		c.AccessKeyID, c.SecretAccessKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if c.AccessKeyID == "" {
		id, secret, err := sharedCredentials(firstNonEmpty(o.profile, os.Getenv("AWS_PROFILE"), "default"))
		if err != nil {
			return nil, err
		}
		c.AccessKeyID, c.SecretAccessKey = id, secret
	}
	return c, nil
}

// sharedCredentials reads a profile's keys from the AWS shared credentials file.
func sharedCredentials(profile string) (string, string, error) {
	path := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", errors.New("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		path = filepath.Join(home, ".aws", "credentials")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use a credentials file (%v)", err)
	}
	defer f.Close()
	var id, secret, section string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != profile {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("no credentials for profile %q in %s", profile, path)
	}
	return id, secret, nil
}

// newS3UserCommand is `berth s3 user`: IAM users, their access keys and policies.
func newS3UserCommand() *cobra.Command {
	opts := &s3AdminOptions{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the IAM users of an S3 endpoint",
		Args:  cli.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	opts.register(cmd)
	cmd.AddCommand(newS3UserCreateCommand(opts), newS3UserLsCommand(opts), newS3UserRmCommand(opts),
		newS3UserKeyCommand(opts), newS3UserPolicyCommand(opts))
	return cmd
}

func newS3UserCreateCommand(o *s3AdminOptions) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NAME",
		Short: "Create a user (it can do nothing until a policy allows it)",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), args[0], path)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.Arn)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "IAM path of the user (default /)")
	return cmd
}

// userRow is a user as `user ls` templates see it.
type userRow struct{ u iam.User }

var userHeader = formatter.Header{"Name": "NAME", "UserID": "USER ID", "ARN": "ARN", "Path": "PATH", "Created": "CREATED"}

func (r *userRow) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(r) }
func (r *userRow) Name() string                 { return r.u.UserName }
func (r *userRow) UserID() string               { return r.u.UserID }
func (r *userRow) ARN() string                  { return r.u.Arn }
func (r *userRow) Path() string                 { return r.u.Path }
func (r *userRow) Created() string              { return r.u.CreateDate.UTC().Format(time.RFC3339) }

func tableFormat(source, def string, quiet bool, quietFormat string) formatter.Format {
	switch {
	case quiet:
		return formatter.Format(quietFormat)
	case source == "" || source == formatter.TableFormatKey:
		return formatter.Format(def)
	}
	return formatter.Format(source)
}

func newS3UserLsCommand(o *s3AdminOptions) *cobra.Command {
	var (
		format string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List users",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			users, err := c.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]any, len(users))
			for i, u := range users {
				rows[i] = &userRow{u}
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(format, "table {{.Name}}\t{{.UserID}}\t{{.ARN}}\t{{.Created}}", quiet, "{{.Name}}")}
			return ctx.Write(userHeader, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatHelp)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display user names")
	return cmd
}

func newS3UserRmCommand(o *s3AdminOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Remove users",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var failed []string
			for _, name := range args {
				if err := removeUser(cmd.Context(), c, name, force); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Error removing user %s: %v\n", name, err)
					failed = append(failed, name)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			if len(failed) > 0 {
				return cli.StatusError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Delete the user's access keys and policies first")
	return cmd
}

// removeUser deletes a user; with force, its keys and policies first (IAM refuses to delete a user that has any).
func removeUser(ctx context.Context, c *iam.Client, name string, force bool) error {
	if force {
		keys, err := c.ListAccessKeys(ctx, name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := c.DeleteAccessKey(ctx, name, k.AccessKeyID); err != nil {
				return err
			}
		}
		inline, err := c.ListUserPolicies(ctx, name)
		if err != nil {
			return err
		}
		for _, p := range inline {
			if err := c.DeleteUserPolicy(ctx, name, p); err != nil {
				return err
			}
		}
		attached, err := c.ListAttachedUserPolicies(ctx, name)
		if err != nil {
			return err
		}
		for _, p := range attached {
			if err := c.DetachUserPolicy(ctx, name, p.PolicyArn); err != nil {
				return err
			}
		}
	}
	return c.DeleteUser(ctx, name)
}

// keyRow is an access key as `user key` templates see it.
type keyRow struct {
	user, id, secret, status string
	created                  time.Time
}

var keyHeader = formatter.Header{"User": "USER", "AccessKeyID": "ACCESS KEY ID", "SecretAccessKey": "SECRET ACCESS KEY", "Status": "STATUS", "Created": "CREATED"}

func (r *keyRow) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(r) }
func (r *keyRow) User() string                 { return r.user }
func (r *keyRow) AccessKeyID() string          { return r.id }
func (r *keyRow) SecretAccessKey() string      { return r.secret }
func (r *keyRow) Status() string               { return r.status }
func (r *keyRow) Created() string              { return r.created.UTC().Format(time.RFC3339) }

func newS3UserKeyCommand(o *s3AdminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage a user's access keys",
		Args:  cli.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var createFormat string
	create := &cobra.Command{
		Use:   "create [OPTIONS] USER",
		Short: "Create an access key; its secret is shown this once",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			k, err := c.CreateAccessKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(createFormat, "table {{.AccessKeyID}}\t{{.SecretAccessKey}}", false, "")}
			return ctx.Write(keyHeader, []any{&keyRow{user: k.UserName, id: k.AccessKeyID, secret: k.SecretAccessKey, status: k.Status, created: k.CreateDate}})
		},
	}
	create.Flags().StringVar(&createFormat, "format", "", formatHelp)
	var (
		lsFormat string
		quiet    bool
	)
	ls := &cobra.Command{
		Use:     "ls [OPTIONS] USER",
		Aliases: []string{"list"},
		Short:   "List a user's access keys",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			keys, err := c.ListAccessKeys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rows := make([]any, len(keys))
			for i, k := range keys {
				rows[i] = &keyRow{user: k.UserName, id: k.AccessKeyID, status: k.Status, created: k.CreateDate}
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(lsFormat, "table {{.AccessKeyID}}\t{{.Status}}\t{{.Created}}", quiet, "{{.AccessKeyID}}")}
			return ctx.Write(keyHeader, rows)
		},
	}
	ls.Flags().StringVar(&lsFormat, "format", "", formatHelp)
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display access key IDs")
	rm := &cobra.Command{
		Use:     "rm USER ACCESS_KEY_ID [ACCESS_KEY_ID...]",
		Aliases: []string{"remove"},
		Short:   "Delete access keys",
		Args:    cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			failed := false
			for _, id := range args[1:] {
				if err := c.DeleteAccessKey(cmd.Context(), args[0], id); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Error removing access key %s: %v\n", id, err)
					failed = true
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			if failed {
				return cli.StatusError{Code: 1}
			}
			return nil
		},
	}
	status := func(use, short, value string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " USER ACCESS_KEY_ID",
			Short: short,
			Args:  cli.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := o.client()
				if err != nil {
					return err
				}
				return c.UpdateAccessKey(cmd.Context(), args[0], args[1], value)
			},
		}
	}
	cmd.AddCommand(create, ls, rm,
		status("disable", "Make an access key inactive (requests signed with it are refused)", "Inactive"),
		status("enable", "Make an inactive access key active again", "Active"))
	return cmd
}

// policyARN turns a managed policy's bare name into its ARN.
func policyARN(p string) string {
	if strings.HasPrefix(p, "arn:") {
		return p
	}
	return "arn:aws:iam::aws:policy/" + p
}

type policyRow struct{ kind, name, arn string }

var policyHeader = formatter.Header{"Type": "TYPE", "Name": "NAME", "ARN": "ARN"}

func (r *policyRow) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(r) }
func (r *policyRow) Type() string                 { return r.kind }
func (r *policyRow) Name() string                 { return r.name }
func (r *policyRow) ARN() string                  { return r.arn }

func newS3UserPolicyCommand(o *s3AdminOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage a user's identity policies",
		Args:  cli.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	each := func(use, short string, fn func(c *iam.Client, ctx context.Context, user, arn string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " USER POLICY [POLICY...]",
			Short: short,
			Args:  cli.RequiresMinArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := o.client()
				if err != nil {
					return err
				}
				for _, p := range args[1:] {
					if err := fn(c, cmd.Context(), args[0], policyARN(p)); err != nil {
						return err
					}
				}
				return nil
			},
		}
	}
	attach := each("attach", "Attach AWS-managed policies (by name, e.g. AmazonS3ReadOnlyAccess, or ARN)", (*iam.Client).AttachUserPolicy)
	attach.Long = "Attach AWS-managed policies to a user. Known: " + strings.Join(iam.ManagedPolicyNames, ", ") + "."
	detach := each("detach", "Detach managed policies", (*iam.Client).DetachUserPolicy)
	var format string
	ls := &cobra.Command{
		Use:     "ls [OPTIONS] USER",
		Aliases: []string{"list"},
		Short:   "List a user's attached and inline policies",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			attached, err := c.ListAttachedUserPolicies(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			inline, err := c.ListUserPolicies(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []any
			for _, p := range attached {
				rows = append(rows, &policyRow{kind: "managed", name: p.PolicyName, arn: p.PolicyArn})
			}
			for _, n := range inline {
				rows = append(rows, &policyRow{kind: "inline", name: n})
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(format, "table {{.Type}}\t{{.Name}}\t{{.ARN}}", false, "")}
			return ctx.Write(policyHeader, rows)
		},
	}
	ls.Flags().StringVar(&format, "format", "", formatHelp)
	put := &cobra.Command{
		Use:   "put USER NAME FILE|-",
		Short: "Set an inline policy from a JSON document (- reads standard input)",
		Args:  cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc []byte
			var err error
			if args[2] == "-" {
				doc, err = io.ReadAll(cmd.InOrStdin())
			} else {
				doc, err = os.ReadFile(args[2])
			}
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return c.PutUserPolicy(cmd.Context(), args[0], args[1], string(doc))
		},
	}
	show := &cobra.Command{
		Use:   "show USER NAME",
		Short: "Print an inline policy's document",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			doc, err := c.GetUserPolicy(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimRight(doc, "\n"))
			return nil
		},
	}
	rm := &cobra.Command{
		Use:     "rm USER NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Delete inline policies",
		Args:    cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			for _, n := range args[1:] {
				if err := c.DeleteUserPolicy(cmd.Context(), args[0], n); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.AddCommand(attach, detach, ls, put, show, rm)
	return cmd
}
