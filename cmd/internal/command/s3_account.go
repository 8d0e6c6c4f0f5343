package command

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/client/iam"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

// accountRow is an account as `account` templates see it.
type accountRow struct {
	a         iam.Account
	key, secr string
}

var accountHeader = formatter.Header{"ID": "ACCOUNT ID", "Name": "NAME", "CanonicalID": "CANONICAL ID", "ARN": "ROOT ARN",
	"Created": "CREATED", "AccessKeyID": "ACCESS KEY ID", "SecretAccessKey": "SECRET ACCESS KEY"}

func (r *accountRow) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(r) }
func (r *accountRow) ID() string                   { return r.a.AccountID }
func (r *accountRow) Name() string                 { return r.a.AccountName }
func (r *accountRow) CanonicalID() string          { return r.a.CanonicalID }
func (r *accountRow) ARN() string                  { return r.a.Arn }
func (r *accountRow) Created() string              { return r.a.CreateDate.UTC().Format(time.RFC3339) }
func (r *accountRow) AccessKeyID() string          { return r.key }
func (r *accountRow) SecretAccessKey() string      { return r.secr }

// newS3AccountCommand is `berth s3 account`: more tenants beside the first account (its root only).
func newS3AccountCommand() *cobra.Command {
	opts := &s3AdminOptions{}
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage the accounts of an S3 endpoint (the first account's root only)",
		Args:  cli.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	opts.register(cmd)
	var createFormat string
	create := &cobra.Command{
		Use:   "create [OPTIONS] NAME",
		Short: "Create an account and its root access key; the secret is shown this once",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			a, k, err := c.CreateAccount(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(createFormat, "table {{.ID}}\t{{.Name}}\t{{.AccessKeyID}}\t{{.SecretAccessKey}}", false, "")}
			return ctx.Write(accountHeader, []any{&accountRow{a: a, key: k.AccessKeyID, secr: k.SecretAccessKey}})
		},
	}
	create.Flags().StringVar(&createFormat, "format", "", formatHelp)
	var (
		lsFormat string
		quiet    bool
	)
	ls := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List accounts",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			accts, err := c.ListAccounts(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]any, len(accts))
			for i, a := range accts {
				rows[i] = &accountRow{a: a}
			}
			ctx := formatter.Context{Output: cmd.OutOrStdout(), Format: tableFormat(lsFormat, "table {{.ID}}\t{{.Name}}\t{{.CanonicalID}}\t{{.Created}}", quiet, "{{.ID}}")}
			return ctx.Write(accountHeader, rows)
		},
	}
	ls.Flags().StringVar(&lsFormat, "format", "", formatHelp)
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display account IDs")
	cmd.AddCommand(create, ls)
	return cmd
}
