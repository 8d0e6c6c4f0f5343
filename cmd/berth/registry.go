package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/registry"
)

// newRegistryCommand is `berth registry serve`: Berth's own OCI distribution registry.
func newRegistryCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI distribution registry",
	}
	var addr, root, cert, key string
	serve := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve an OCI distribution (v2) registry from a directory",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (cert == "") != (key == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if err := os.MkdirAll(root, 0o700); err != nil {
				return err
			}
			reg, err := registry.New(root, registry.WithLogger(slog.New(slog.NewTextHandler(c.err, nil))))
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second}
			ctx := cmd.Context()
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(shut)
			}()
			slog.Info("registry listening", "address", l.Addr().String(), "root", root, "tls", cert != "")
			if cert != "" {
				err = srv.ServeTLS(l, cert, key)
			} else {
				err = srv.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		},
	}
	f := serve.Flags()
	f.StringVar(&addr, "addr", ":5000", "Address to listen on")
	f.StringVar(&root, "root", "/var/lib/berth-registry", "Directory holding the registry's blobs and repositories")
	f.StringVar(&cert, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	f.StringVar(&key, "tls-key", "", "TLS key file")
	cmd.AddCommand(serve)
	return cmd
}
