package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/internal/registry"
)

// newRegistryCommand is `berth registry serve`: Berth's own OCI distribution registry.
func newRegistryCommand(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI distribution registry",
	}
	var addr, root, cert, key, htpasswd, tokenRealm, debugAddr string
	var proxyURL, proxyUser, proxyPass string
	var publicPull bool
	var gcInterval time.Duration
	serve := &cobra.Command{
		Use:   "serve [OPTIONS]",
		Short: "Serve an OCI distribution (v2) registry from a directory",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (cert == "") != (key == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if err := os.MkdirAll(root, 0o700); err != nil {
				return err
			}
			opts := []registry.Option{registry.WithLogger(slog.New(slog.NewTextHandler(stderr, nil)))}
			authOpt, err := registryAuthOption(htpasswd, tokenRealm, publicPull)
			if err != nil {
				return err
			}
			if authOpt != nil {
				opts = append(opts, authOpt)
				if cert == "" {
					slog.Warn("registry authentication without TLS sends credentials in the clear")
				}
			}
			if proxyURL != "" {
				opts = append(opts, registry.WithProxy(registry.ProxyConfig{
					RemoteURL: proxyURL, Username: proxyUser, Password: proxyPass,
				}))
			} else if proxyUser != "" || proxyPass != "" {
				return errors.New("--proxy-username and --proxy-password need --proxy-remote-url")
			}
			reg, err := registry.New(root, opts...)
			if err != nil {
				return err
			}
			if gcInterval < 0 {
				return errors.New("--gc-interval must not be negative")
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second}
			ctx := cmd.Context()
			if debugAddr != "" {
				dl, err := net.Listen("tcp", debugAddr)
				if err != nil {
					return err
				}
				m := http.NewServeMux()
				m.HandleFunc("GET /debug/pprof/", pprof.Index)
				m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
				m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
				m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
				m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
				dbg := &http.Server{Handler: m, ReadHeaderTimeout: 30 * time.Second}
				go dbg.Serve(dl)
				defer dbg.Close()
				slog.Info("registry debug server listening", "address", dl.Addr().String())
			}
			if gcInterval > 0 {
				go reg.RunGC(ctx, gcInterval, registry.GCOptions{})
			}
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
	f.StringVar(&htpasswd, "htpasswd", "", "Require authentication against this htpasswd file (bcrypt entries, htpasswd -B)")
	f.StringVar(&tokenRealm, "token-realm", "", "Enable token authentication; the URL clients reach this registry's /token at")
	f.BoolVar(&publicPull, "public-pull", false, "With --token-realm, let anonymous clients pull")
	f.DurationVar(&gcInterval, "gc-interval", 0, "Collect unreferenced blobs this often while serving (0 = never)")
	f.StringVar(&proxyURL, "proxy-remote-url", "", "Serve as a pull-through cache of this registry (e.g. https://registry-1.docker.io); pushes are refused")
	f.StringVar(&proxyUser, "proxy-username", "", "Username for the upstream registry of --proxy-remote-url")
	f.StringVar(&proxyPass, "proxy-password", "", "Password for the upstream registry of --proxy-remote-url")
	f.StringVar(&debugAddr, "debug-addr", "", "Serve Go's pprof at /debug/pprof/ on this address (e.g. 127.0.0.1:6060)")
	cmd.AddCommand(serve)
	return cmd
}

// registryService is the token audience and issuer of `berth registry serve`.
const registryService = "berth-registry"

// registryAuthOption turns the auth flags into a registry option, or nil for
// an open registry. Token auth signs with a key generated per process, so
// tokens do not survive a restart; clients simply fetch new ones.
func registryAuthOption(htpasswd, tokenRealm string, publicPull bool) (registry.Option, error) {
	if tokenRealm == "" {
		if publicPull {
			return nil, errors.New("--public-pull needs --token-realm")
		}
		if htpasswd == "" {
			return nil, nil
		}
		return registry.WithHtpasswd(htpasswd), nil
	}
	var users *registry.Users
	if htpasswd != "" {
		u, err := registry.LoadHtpasswd(htpasswd)
		if err != nil {
			return nil, err
		}
		users = u
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return registry.WithTokenAuth(registry.TokenConfig{
		Realm:   tokenRealm,
		Service: registryService,
		Issuer:  registryService,
		Key:     key,
		Users:   users,
		ACL: func(user, _ string) (pull, push bool) {
			if user == "" {
				return publicPull, false
			}
			return true, true
		},
	}), nil
}
