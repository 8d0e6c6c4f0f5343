// Package firewall owns the packet filtering and NAT of Berth's bridge networks: outbound masquerade, forwarding
// and isolation between bridges, and published ports. It computes the rules as data (rules.go, plan.go: pure) and
// applies them in a thin layer: one nftables table over netlink, plus two accept rules per network in iptables'
// filter FORWARD chain. It also owns the tables Berth writes in other namespaces, each rule commented and read
// back by its comment: a container's service VIPs (vip.go) and embedded DNS redirect of 127.0.0.11:53
// (dnsnat.go), and the ingress routing mesh (ingress.go).
//
// # Terms
//
// A network is a Linux bridge with an IPv4 subnet (Network); it is internal when its containers may reach only
// each other, and ICC says whether they may reach each other at all. A port is a published port (Port): the host's
// HostIP:HostPort (all of the host's addresses when HostIP is zero) forwarded to a container's
// ContainerIP:ContainerPort on a network. Berth owns its table (inet "berth" by default, see WithTableName) and the
// rules in iptables' FORWARD chain whose comment is "<table>:<bridge>"; it never flushes, deletes or reorders
// anything else.
//
// # Lifecycle
//
// A Manager keeps nothing in memory: each rule carries a comment naming the network or port that owns it, and
// every call reads the table back from the kernel. Rules stay installed while the daemon is down (containers keep
// working), and a new Manager sees them (Networks, Ports). Adding an object again atomically replaces its rules,
// so restoring after a restart is just adding everything again:
//
//	fw, err := firewall.New(ctx)
//	// when a network is created, or restored at daemon start:
//	err = fw.AddNetwork(ctx, firewall.Network{Bridge: "br-1a2b", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true})
//	// when a container with -p 8080:80 starts (after its network):
//	err = fw.AddPort(ctx, firewall.Port{Proto: "tcp", HostPort: 8080, ContainerIP: ip, ContainerPort: 80, Bridge: "br-1a2b"})
//	// when it stops:
//	err = fw.RemovePort(ctx, port)
//	// when the network is removed (also removes its ports; the last network takes the whole table with it):
//	err = fw.RemoveNetwork(ctx, "br-1a2b")
//
// Reset removes everything at once (tests, or a daemon that drops all its networks). Daemon shutdown removes
// nothing: containers keep running. Rules prints what is installed. There is no Close: each call opens and closes
// its own netlink socket.
//
// # What is installed
//
// The inet table's base chains hold only static jumps, and every object's rules go to chains where each rule
// names its own bridge or port, so rules never depend on the order objects were added in:
//
//	prerouting, output (nat, dstnat):  fib daddr type local jump ports
//	ports:            [ip daddr HostIP] tcp dport HostPort dnat ip to ContainerIP:ContainerPort        per port
//	postrouting (nat, srcnat), per non-internal network:
//	                  ip saddr Subnet oifname != Bridge masquerade                           outbound NAT
//	                  oifname Bridge ip saddr Subnet ct status dnat masquerade               hairpin
//	                  oifname Bridge ip saddr 127.0.0.0/8 masquerade                         ports on 127.0.0.1
//	forward (filter): ct state established,related accept
//	                  jump forward-internal   iifname Bridge oifname != Bridge drop          internal networks
//	                  jump forward-ports      oifname Bridge ip daddr ContainerIP tcp dport ContainerPort ct status dnat accept
//	                  jump forward-bridges    iifname Bridge oifname Bridge accept (drop without ICC)
//	                                          oifname Bridge drop                            isolation
//	input (filter), per non-internal network:
//	                  iifname Bridge ip daddr 127.0.0.0/8 ct state ! established,related drop
//
// Isolation is docker's DOCKER-ISOLATION behaviour with fewer rules: nothing enters a bridge unless it comes from
// the same bridge, answers a connection made from inside, or goes to a published port. So containers on two
// networks cannot talk directly, but can reach each other's published ports through a host address, and the
// outside cannot reach a container's unpublished ports even with a route to the subnet.
//
// Hairpin: a container connecting to a published port through a host address (the bridge's gateway address or
// any other) is DNATed in prerouting and sent back out of its own bridge. The masquerade makes the reply come
// back through the host (and its conntrack) instead of going straight, bridged, to the other container, so it
// works with or without br_netfilter. One thing is outside this package: with br_netfilter
// (net.bridge.bridge-nf-call-iptables=1) the kernel bridges such a packet instead of routing it, out of the very
// port it came in on, so a container reaching its own published port needs hairpin mode on its bridge port
// (`ip link set VETH type bridge_slave hairpin on`), which whoever attaches the veth sets, as dockerd does when its
// userland proxy is off. Other containers of the bridge need nothing.
//
// Loopback: the host connecting to 127.0.0.1:HostPort is DNATed in the output chain. The kernel routes a packet
// with a 127.0.0.0/8 source out of a non-loopback interface only when net.ipv4.conf.<bridge>.route_localnet is 1,
// so the Manager sets it (on AddNetwork when the bridge exists, and on AddPort), and postrouting masquerades such
// sources to the bridge's address. route_localnet would also let a container send to the host's 127.0.0.0/8
// services; the input rule refuses that (as kube-proxy does for CVE-2020-8558).
//
// ICC=false drops same-bridge traffic in the forward chain, which bridged traffic traverses only through
// br_netfilter; so AddNetwork sets net.bridge.bridge-nf-call-iptables=1 for it (as dockerd does) and fails with
// errdefs.ErrUnavailable where br_netfilter is missing. Non-internal networks set net.ipv4.ip_forward=1 unless
// WithIPForward(false).
//
// # Living with dockerd (and anything else using iptables)
//
// Every nftables base chain on a hook sees each packet, and a packet is dropped if any of them drops it; an
// accept only ends the chain that said it. dockerd sets the policy of iptables' filter FORWARD chain (a base chain
// too, in table ip filter under iptables-nft, or in the legacy tables) to DROP, so an accept in Berth's table is not
// enough. Berth therefore inserts, with go-iptables, two rules at the top of filter FORWARD for each network:
//
//	-A FORWARD -i Bridge [-o Bridge when internal] -m comment --comment "berth:Bridge" -j ACCEPT
//	-A FORWARD -o Bridge -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "berth:Bridge" -j ACCEPT
//
// They accept broadly and leave the policy to Berth's table, which drops what must be dropped. FORWARD (not
// DOCKER-USER) works the same whether dockerd is running, starts later (it inserts its jump to DOCKER-USER above
// them; docker's own chains never accept or drop traffic of other bridges, only the policy would) or never
// existed; if the filter table does not exist yet, iptables creates it with policy ACCEPT, and it stays (it is
// shared). The rules go with RemoveNetwork and Reset, found by their comment. dockerd's rules, chains and policy are
// never touched. A limitation: the "-i Bridge" accept also lets a Berth container open connections to containers
// on one of dockerd's bridges, which dockerd leaves to its DROP policy; Berth's table only guards Berth's bridges
// (dockerd 20.10 likewise lets its containers reach any bridge that is not its own).
//
// Only IPv4 is supported.
package firewall
