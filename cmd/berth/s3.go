package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/berth/internal/clientgc"
	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/s3api"
)

// newS3Command is `berth s3`: S3-compatible object storage, served on its own (`berth s3 serve`), and its
// accounts and users.
func newS3Command(c *cli) *cobra.Command {
	return newGroupCommand("s3", "Serve and manage S3-compatible object storage",
		newS3ServeCommand(c), newS3UserCommand(), newS3AccountCommand())
}

// s3ServeOptions are the flags of `berth s3 serve`.
type s3ServeOptions struct {
	addr, dataDir, cert, key, region string
	domains                          []string
	legacyBucketDefaults             bool
}

func newS3ServeCommand(c *cli) *cobra.Command {
	o := &s3ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve the S3 API (and IAM and STS) from a directory",
		Long: `Serve the S3 API, with IAM and STS for its accounts, users and keys, on one AWS-style endpoint.

On first start the first account's root access key is taken from BERTH_ROOT_ACCESS_KEY_ID and
BERTH_ROOT_SECRET_ACCESS_KEY, or generated and written once to DATA_DIR/root-credentials (mode 0600).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			clientgc.Restore() // a server, not a short-lived command
			return runS3Serve(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", ":9000", "Address to listen on")
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/berth-s3", "Directory holding the objects, their index and the accounts")
	f.StringVar(&o.cert, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	f.StringVar(&o.key, "tls-key", "", "TLS key file")
	f.StringVar(&o.region, "region", cloud.DefaultRegion, "The region the endpoint serves (requests must be signed for it)")
	f.StringSliceVar(&o.domains, "domain", []string{"s3.localhost"}, "Domain under which BUCKET.DOMAIN names a bucket (virtual-host style); repeat for more")
	f.BoolVar(&o.legacyBucketDefaults, "legacy-bucket-defaults", false, "Create buckets with ACLs enabled and no Block Public Access, as S3 did before April 2023")
	return cmd
}

func runS3Serve(ctx context.Context, c *cli, o *s3ServeOptions) error {
	if (o.cert == "") != (o.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	log := slog.New(slog.NewTextHandler(c.err, nil))
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return err
	}
	id, secret, err := iam.RootCredentialsFromEnv()
	if err != nil {
		return err
	}
	iamOpts := []iam.Option{iam.WithLogger(log)}
	if id != "" {
		iamOpts = append(iamOpts, iam.WithRootCredentials(id, secret))
	}
	ids, err := iam.Open(o.dataDir, iamOpts...)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	defer ids.Close()
	store, err := objectstore.Open(filepath.Join(o.dataDir, "objects"), objectstore.WithLogger(log))
	if err != nil {
		return err
	}
	defer store.Close()

	ep := cloud.NewEndpoint(ids, cloud.WithLogger(log), cloud.WithRegion(o.region), cloud.WithVirtualHostDomain(o.domains...))
	s3opts := []s3api.Option{s3api.WithLogger(log), s3api.WithPrincipals(ids)}
	if o.legacyBucketDefaults {
		s3opts = append(s3opts, s3api.WithLegacyBucketDefaults())
	}
	ep.Register("s3", s3api.New(store, s3opts...))
	ep.Register("iam", iam.NewIAMService(ids, iam.WithServiceLogger(log)))
	ep.Register("sts", iam.NewSTSService(ids, iam.WithServiceLogger(log)))

	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ep, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Info("s3 listening", "address", l.Addr().String(), "data_dir", o.dataDir, "region", o.region, "tls", o.cert != "")
	if o.cert != "" {
		err = srv.ServeTLS(l, o.cert, o.key)
	} else {
		err = srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		// Wait for the requests in flight before the store closes under them.
		<-done
		return nil
	}
	return err
}
