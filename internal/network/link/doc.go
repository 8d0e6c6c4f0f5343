// Package link owns the kernel network objects of Berth's bridge networks: Linux bridges, the veth pairs that join
// a container to a bridge, the network namespaces the containers run in (bind-mounted at a path, like
// `ip netns add`), and the few sysctls those need. It talks to the kernel through netlink and never touches an
// object it was not asked to manage by name.
//
// A container joins a network roughly like this:
//
//	link.EnsureBridge(ctx, "br-0123456789ab", netip.MustParsePrefix("172.18.0.1/16"), 0)
//	link.NewNetNS(ctx, "/run/berth/netns/<id>")
//	link.AttachVeth(ctx, link.VethConfig{Bridge: "br-0123456789ab", HostName: "veth1a2b3c4",
//		NetNSPath: "/run/berth/netns/<id>", IfName: "eth0", Addr: netip.MustParsePrefix("172.18.0.2/16"),
//		Gateway: netip.MustParseAddr("172.18.0.1"), MAC: ipam.MAC(addr)})
//	... the container runs with the namespace at that path ...
//	link.DetachVeth(ctx, "veth1a2b3c4")
//	link.DeleteNetNS(ctx, "/run/berth/netns/<id>")
//
// Work inside another namespace runs on a throwaway locked OS thread (InNetNS), so no goroutine of the caller is
// ever left in the wrong namespace. Functions without a path argument act in the namespace of the calling thread,
// which is the host's for every goroutine not inside InNetNS.
package link
