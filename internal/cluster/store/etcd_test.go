package store_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/cluster/store/storetest"
)

// startEtcd runs a one-member etcd in the test's process, on loopback ports, with its data in a temp dir.
func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// A port found free may be taken before etcd binds it (other tests' connections use the same ephemeral
	// range): try again with others.
	var (
		e      *embed.Etcd
		client url.URL
		err    error
	)
	for range 5 {
		var peer url.URL
		peer, client = freeURL(t), freeURL(t)
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.InitialCluster = cfg.Name + "=" + peer.String()
		if e, err = embed.StartEtcd(cfg); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func freeURL(t *testing.T) url.URL {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, _ := url.Parse(fmt.Sprintf("http://%s", l.Addr()))
	return *u
}

func TestEtcdConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return store.NewEtcdBackend(startEtcd(t)) })
}
