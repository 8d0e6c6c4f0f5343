package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/daemon"
	"github.com/berth/berth/internal/objectstore/s3api"
)

// The cloud endpoint is one AWS-style HTTP endpoint: requests are routed by the service their SigV4 credential
// scope names (s3, iam, sts, ec2), so `aws --endpoint-url URL s3 …`, `… iam …` and `… ec2 …` share one port.
// berthd serves it twice over: `berth s3 serve` over a data directory, and the daemon's --cloud-addr over
// <data-root>/cloud. Both build it here; a service of the daemon's (the EC2 API over its VM service: ec2.go) is
// registered by runDaemon on the endpoint newCloudEndpoint returns, before it serves.

// cloudOptions are the endpoint's listening address and its settings, from flags or daemon.json.
type cloudOptions struct {
	addr      string
	tlsCert   string
	tlsKey    string
	region    string   // "" for us-east-1
	domains   []string // nil for s3.localhost
	debugName string   // what the logs call it: "s3" (berth s3 serve) or "cloud endpoint" (the daemon's)
	logAttrs  []any    // more attributes of the "listening" line
	// legacyBucketDefaults creates buckets as S3 did before April 2023: ACLs on, no Block Public Access.
	legacyBucketDefaults bool
}

// newCloudEndpoint is the endpoint over c's identities, serving IAM, STS and S3.
func newCloudEndpoint(c *daemon.Cloud, o cloudOptions, log *slog.Logger) *cloud.Endpoint {
	opts := []cloud.Option{cloud.WithLogger(log)}
	if o.region != "" {
		opts = append(opts, cloud.WithRegion(o.region))
	}
	if len(o.domains) > 0 {
		opts = append(opts, cloud.WithVirtualHostDomain(o.domains...))
	}
	ep := cloud.NewEndpoint(c.Identities, opts...)
	// The identities are the principals a bucket policy or an ACL may name: S3 refuses one that does not exist.
	s3opts := []s3api.Option{s3api.WithLogger(log), s3api.WithPrincipals(c.Identities)}
	if o.legacyBucketDefaults {
		s3opts = append(s3opts, s3api.WithLegacyBucketDefaults())
	}
	ep.Register("s3", s3api.New(c.Objects, s3opts...))
	ep.Register("iam", iam.NewIAMService(c.Identities, iam.WithServiceLogger(log)))
	ep.Register("sts", iam.NewSTSService(c.Identities, iam.WithServiceLogger(log)))
	return ep
}

// cloudListener checks o's TLS files and listens on o.addr, so that a bad setting fails a start before
// anything serves.
func cloudListener(o cloudOptions) (net.Listener, *tls.Config, error) {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, nil, errors.New("a TLS certificate and its key go together")
	}
	var tlsCfg *tls.Config
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, nil, err
	}
	return l, tlsCfg, nil
}

// serveCloud serves h on l until ctx ends, then lets the requests in flight finish (for up to 10 seconds)
// before it returns, so that the stores can be closed after it.
func serveCloud(ctx context.Context, l net.Listener, tlsCfg *tls.Config, h http.Handler, o cloudOptions, log *slog.Logger) error {
	// An idle keep-alive connection is closed after 90 s: without a limit idle clients would hold connections
	// forever. No read or write timeout: a large upload or download takes its time.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan struct{}) // closed when Serve returns
	done := make(chan struct{})   // closed when the shutdown is over
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
		case <-served:
			return
		}
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Info(o.debugName+" listening", append([]any{"address", l.Addr().String(), "region", cmp.Or(o.region, cloud.DefaultRegion), "tls", tlsCfg != nil}, o.logAttrs...)...)
	var err error
	if tlsCfg != nil {
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	close(served)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}
