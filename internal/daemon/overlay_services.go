package daemon

import (
	"net/netip"
	"slices"

	"github.com/berth/berth/internal/cluster"
	berthnet "github.com/berth/berth/internal/network"
)

// addServiceViews adds to each network's view the swarm services on it: a service is on a network where it
// has a VIP or tasks; its running tasks' addresses there are its backends (and its dnsrr and tasks.NAME
// answers).
func addServiceViews(views map[string]berthnet.ClusterView, st cluster.NetworkState) {
	running := map[string]bool{}
	for _, r := range st.Running {
		running[r.ID] = true
	}
	type key struct{ service, network string }
	on := map[key]bool{}
	tasks := map[key][]netip.Addr{}
	for _, a := range st.Attachments {
		if a.ServiceID == "" || a.TaskID == "" {
			continue
		}
		k := key{a.ServiceID, a.NetworkID}
		on[k] = true
		if running[a.TaskID] && a.NodeID != "" {
			tasks[k] = append(tasks[k], a.Addr.Addr())
		}
	}
	for _, s := range st.Services {
		nets := map[string]netip.Addr{}
		for _, v := range s.VIPs {
			nets[v.NetworkID] = v.Addr.Addr()
		}
		for k := range on {
			if k.service == s.ID {
				if _, ok := nets[k.network]; !ok {
					nets[k.network] = netip.Addr{}
				}
			}
		}
		for netID, vip := range nets {
			k := key{s.ID, netID}
			ts := slices.Clone(tasks[k])
			slices.SortFunc(ts, netip.Addr.Compare)
			v := views[netID]
			v.Services = append(v.Services, berthnet.ServiceView{Name: s.Name, Aliases: slices.Clone(s.Aliases[netID]), VIP: vip, Tasks: ts})
			views[netID] = v
		}
	}
	for id, v := range views {
		slices.SortFunc(v.Services, func(a, b berthnet.ServiceView) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		views[id] = v
	}
}
