package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/daemon"
)

// newS3Command is berthd's `s3` group: only `serve`, the server. The CLI's `berth s3` group holds the clients
// (`user`, `account`) and a stub of `serve` that runs this one.
func newS3Command(stderr io.Writer) *cobra.Command {
	return cli.NewGroupCommand("s3", "Serve and manage S3-compatible object storage", newS3ServeCommand(stderr))
}

func newS3ServeCommand(stderr io.Writer) *cobra.Command {
	o := cloudOptions{debugName: "s3"}
	var dataDir string
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve the S3 API (and IAM and STS) from a directory",
		Long: `Serve the S3 API, with IAM and STS for its accounts, users and keys, on one AWS-style endpoint.

On first start the first account's root access key is taken from BERTH_ROOT_ACCESS_KEY_ID and
BERTH_ROOT_SECRET_ACCESS_KEY, or generated on first start and kept in DATA_DIR/root-credentials (mode 0600).`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (o.tlsCert == "") != (o.tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			log := slog.New(slog.NewTextHandler(stderr, nil))
			// Flags first: a bad one must not leave a half-created data directory behind.
			l, tlsCfg, err := cloudListener(o)
			if err != nil {
				return err
			}
			defer l.Close()
			id, secret, err := iam.RootCredentialsFromEnv()
			if err != nil {
				return err
			}
			c, err := daemon.OpenCloud(daemon.CloudConfig{Dir: dataDir, RootAccessKeyID: id, RootSecretAccessKey: secret, Logger: log})
			if err != nil {
				return err
			}
			defer c.Close()
			o.logAttrs = []any{"data_dir", dataDir}
			return serveCloud(cmd.Context(), l, tlsCfg, newCloudEndpoint(c, o, log), o, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", ":9000", "Address to listen on")
	f.StringVar(&dataDir, "data-dir", "/var/lib/berth-s3", "Directory holding the objects, their index and the accounts")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS key file")
	f.StringVar(&o.region, "region", cloud.DefaultRegion, "The region the endpoint serves (requests must be signed for it)")
	f.StringSliceVar(&o.domains, "domain", []string{"s3.localhost"}, "Domain under which BUCKET.DOMAIN names a bucket (virtual-host style); repeat for more")
	f.BoolVar(&o.legacyBucketDefaults, "legacy-bucket-defaults", false, "Create buckets with ACLs enabled and no Block Public Access, as S3 did before April 2023")
	return cmd
}
