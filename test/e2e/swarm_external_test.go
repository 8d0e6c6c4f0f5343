package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Managers pointed at an external etcd (--swarm-etcd-endpoints): the test runs a standalone etcd server on the
// bridge's host address; the swarm keeps its state there, the managers embed no member, and when the leading
// manager dies another takes the lead (an election in the external etcd) and the cluster stays writable.
func TestSwarmExternalEtcd(t *testing.T) {
	net := newSwarmNet(t)
	port := freePort(t)
	client, _ := url.Parse(fmt.Sprintf("http://%s1:%d", net.prefix, port))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	<-e.Server.ReadyNotify()

	args := []string{"--swarm-etcd-endpoints", client.String(), "--swarm-etcd-prefix", "/e2e-swarm/"}
	n1, n2 := net.addNode(args...), net.addNode(args...)
	initSwarm(t, "manager", n1, n2)
	id1, id2 := n1.nodeID(t), n2.nodeID(t)
	eventuallyDocker(t, n2, 30*time.Second, "two ready managers", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2 && strings.Contains(r.Stdout, "Leader") && strings.Contains(r.Stdout, "Reachable")
	}, "node", "ls")

	// The state is in the external etcd, under the prefix.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/e2e-swarm/objects/nodes/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 2 {
		t.Fatalf("nodes in the external etcd: %v, %v", resp, err)
	}

	leader := leaderOf(n1)
	survivor, lost := n2, n1
	if leader == id2 {
		survivor, lost = n1, n2
	}
	lost.kill9()
	killed := time.Now()
	waitFor(t, 30*time.Second, "the survivor leads", func() bool { return leaderOf(survivor) == map[bool]string{true: id1, false: id2}[survivor == n1] })
	t.Logf("external etcd: the surviving manager leads %v after the leader was killed", time.Since(killed).Round(10*time.Millisecond))
	survivor.docker(t, "node", "update", "--label-add", "external=yes", survivor.nodeID(t))
	lost.restart()
	eventuallyDocker(t, survivor, 30*time.Second, "both ready again", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2
	}, "node", "ls")
}
