#!/usr/bin/env bash
# Overlay networks: TCP throughput (iperf3, one stream) between containers on two swarm nodes over a Berth overlay
# network, against the same two nodes' namespaces talking over their plain bridge (the underlay the overlay runs
# on), and over an encrypted overlay (--opt encrypted: WireGuard in userspace), side by side in one run, ratios
# printed. The two nodes are Berth daemons in network namespaces on a private bridge, as the swarm e2e harness
# makes them; iperf3 runs from the host inside the namespaces (nsenter), so every path runs the same binary.
# Usage: bench/overlay.sh as root   (DURATION=5 seconds per run, ROUNDS=5 interleaved rounds, median reported)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
# JUMBO_MTU is the MTU of a second encrypted network, whose WireGuard datagrams the underlay fragments.
JUMBO_MTU=${JUMBO_MTU:-8920}
bench_install
command -v iperf3 >/dev/null || { apt-get install -y -qq iperf3 >/dev/null; }
busybox_tar
"$REPO/scripts/build.sh" "$BIN"

trap nodes_cleanup EXIT
nodes_net bovl 251
node_add berth 11
node_add berth 12
# node 1 and node 2 of this script are nodes 11 and 12 (their addresses' last byte).
node() { local n=$1; shift; nodecli $((10 + n)) "$@"; }
PREFIX=$NODES_PREFIX
node 1 swarm init --advertise-addr "$PREFIX.11" >/dev/null
node 2 swarm join --token "$(node 1 swarm join-token -q worker)" "$PREFIX.11:2377" >/dev/null
node 1 network create -d overlay --attachable ovl >/dev/null
node 1 network create -d overlay --attachable --opt encrypted sec >/dev/null
node 1 network create -d overlay --attachable --opt encrypted -o com.docker.network.driver.mtu="$JUMBO_MTU" jumbo >/dev/null
for net in ovl sec jumbo; do
	node 1 run -d --name "$net-1" --network "$net" busybox sleep 3600 >/dev/null
	node 2 run -d --name "$net-2" --network "$net" busybox sleep 3600 >/dev/null
done
# ctrns N NAME: a container's network namespace, where its daemon bind-mounts it.
ctrns() { echo "$RUN_DIR/node$((10 + $1))/netns/$(node "$1" inspect -f '{{.Id}}' "$2")"; }
ipof() { node "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}" "$2"; }
UNDER_SRV=/run/netns/${NODES_NS[1]}
UNDER_CLI=/run/netns/${NODES_NS[0]}
OVL_SRV=$(ctrns 2 ovl-2); OVL_CLI=$(ctrns 1 ovl-1); OVL_IP=$(ipof 2 ovl-2 ovl)
SEC_SRV=$(ctrns 2 sec-2); SEC_CLI=$(ctrns 1 sec-1); SEC_IP=$(ipof 2 sec-2 sec)
JUM_SRV=$(ctrns 2 jumbo-2); JUM_CLI=$(ctrns 1 jumbo-1); JUM_IP=$(ipof 2 jumbo-2 jumbo)
# The peers' entries come with the cluster's state: wait until each path answers.
for p in "$OVL_CLI $OVL_IP" "$SEC_CLI $SEC_IP" "$JUM_CLI $JUM_IP"; do
	set -- $p
	for _ in $(seq 1 50); do nsenter --net="$1" busybox ping -c1 -W1 "$2" >/dev/null 2>&1 && break; sleep 0.2; done
done

# gbps SERVER_NS CLIENT_NS ADDR: one iperf3 run's received throughput in Gbit/s.
gbps() {
	nsenter --net="$1" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	local srv=$!
	sleep 0.3
	nsenter --net="$2" iperf3 -c "$3" -p 5201 -t "$DURATION" -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
	wait "$srv" 2>/dev/null || true
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
u=(); o=(); s=(); j=()
for _ in $(seq 1 "$ROUNDS"); do
	u+=("$(gbps "$UNDER_SRV" "$UNDER_CLI" "$PREFIX.12")")
	o+=("$(gbps "$OVL_SRV" "$OVL_CLI" "$OVL_IP")")
	s+=("$(gbps "$SEC_SRV" "$SEC_CLI" "$SEC_IP")")
	j+=("$(gbps "$JUM_SRV" "$JUM_CLI" "$JUM_IP")")
done
under=$(median "${u[@]}"); ovl=$(median "${o[@]}"); sec=$(median "${s[@]}"); jum=$(median "${j[@]}")
echo "TCP throughput between two nodes (iperf3, 1 stream, ${DURATION}s, median of $ROUNDS rounds), Gbit/s"
printf '%-44s %8s %8s\n' "path" "Gbit/s" "ratio"
printf '%-44s %8s %8s\n' "plain bridge between the node namespaces" "$under" "1.00"
printf '%-44s %8s %8s\n' "overlay (VXLAN), container to container" "$ovl" "$(ratio "$ovl" "$under")"
printf '%-44s %8s %8s\n' "encrypted overlay (WireGuard in userspace)" "$sec" "$(ratio "$sec" "$under")"
printf '%-44s %8s %8s\n' "encrypted overlay, MTU $JUMBO_MTU inside the tunnel" "$jum" "$(ratio "$jum" "$under")"
echo "rounds: bridge ${u[*]} | overlay ${o[*]} | encrypted ${s[*]} | encrypted, MTU $JUMBO_MTU ${j[*]}"
