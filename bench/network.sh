#!/usr/bin/env bash
# Networking: throughput and latency through a published port against a direct connection to the container's
# address (wrk against busybox httpd serving a 16 KiB file, on 127.0.0.1), and the time to create+start+remove a
# container on a bridge network (the default one, and a user-defined one with the embedded DNS) against
# --network none; Berth and docker (its bridge with the userland proxy, and without) in one run. dockerd's iptables state is saved before and restored after, and docker0 removed.
# Usage: bench/network.sh as root   (DURATION=5s per wrk run, ROUNDS=3 wrk rounds, median reported; RUNS=20 for
# the start timings)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5s}
RUNS=${RUNS:-20}
bench_install
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
busybox_tar
# The server image: one static Go binary, built here.
mkdir -p "$BENCH_DIR/httpserve"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BENCH_DIR/httpserve/httpserve" ./bench/internal/httpserve)
tar -C "$BENCH_DIR/httpserve" -cf "$BENCH_DIR/httpserve.tar" httpserve
start_berth
BERTH_BRIDGE=$(berth network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
berth import -c 'CMD ["/httpserve"]' - httpserve:latest <"$BENCH_DIR/httpserve.tar" >/dev/null

# wrk_pair DIRECT_URL PORT_URL: ROUNDS interleaved wrk runs of each; prints the median round's requests/s and
# mean latency for the direct URL, then for the published port (interleaving spreads the VM's noise evenly).
wrk_pair() {
	local d=() p=() i
	for i in $(seq 1 "${ROUNDS:-3}"); do
		d+=("$(wrk_run "$1")")
		p+=("$(wrk_run "$2")")
	done
	echo "$(printf '%s\n' "${d[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}') $(printf '%s\n' "${p[@]}" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')"
}

# wrk_run URL: requests/s and mean latency (ms) over DURATION with 2 threads, 32 connections.
wrk_run() {
	wrk -t2 -c32 -d"$DURATION" --latency "$1" 2>/dev/null | awk '
		/Requests\/sec/ {rps=$2}
		/^    Latency/ {lat=$2}
		END {print rps, lat}'
}

# Start cost first: the connections wrk makes fill the conntrack table, which every namespace teardown then
# walks, and that would be charged to whatever runs next.
# A user-defined network also starts the embedded DNS (its sockets and its NAT table in the namespace).
berth network create benchnet >/dev/null
read -r b_bridge b_none b_user <<<"$(medians_ms "$BIN/berth -H unix://$BERTH_SOCK run --rm busybox true" "$BIN/berth -H unix://$BERTH_SOCK run --rm --network none busybox true" "$BIN/berth -H unix://$BERTH_SOCK run --rm --network benchnet busybox true")"
berth network rm benchnet >/dev/null

# Berth: published port vs the container's address.
berth run -d --name web -p 127.0.0.1:18180:80 httpserve >/dev/null
ip=$(berth inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' web)
sleep 0.5
read -r b_direct b_direct_lat b_port b_port_lat <<<"$(wrk_pair "http://$ip/f" "http://127.0.0.1:18180/f")"
berth rm -f web >/dev/null
# Remove Berth's default bridge and rules before dockerd runs (the bench must leave the host as it found it).
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
PIDS=("${PIDS[@]:1}")
clean_berth_network

# docker with its bridge: with and without the userland proxy.
saved=$BENCH_DIR/iptables.saved
iptables-save >"$saved"
tables_before=$(nft list tables)
docker_net() {
	local proxy=$1
	dockerd --data-root "$BENCH_DIR/dockernet" --exec-root "$RUN_DIR/dockernet" -H "unix://$DOCKER_SOCK" \
		--pidfile "$BENCH_DIR/dockernet.pid" --userland-proxy="$proxy" --config-file "$BENCH_DIR/berth.json" \
		>"$BENCH_DIR/dockernet.log" 2>&1 &
	local pid=$!
	for _ in $(seq 1 300); do dockercli version >/dev/null 2>&1 && break; sleep 0.1; done
	dockercli image inspect busybox >/dev/null 2>&1 || dockercli import -c 'CMD ["sh"]' - busybox:latest <"$BENCH_DIR/busybox.tar" >/dev/null
	if [ "$proxy" = true ]; then
		read -r d_bridge d_none <<<"$(medians_ms "env DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker run --rm busybox true" "env DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker run --rm --network none busybox true")"
	fi
	dockercli image inspect httpserve >/dev/null 2>&1 || dockercli import -c 'CMD ["/httpserve"]' - httpserve:latest <"$BENCH_DIR/httpserve.tar" >/dev/null
	dockercli run -d --name web -p 127.0.0.1:18181:80 httpserve >/dev/null
	local dip
	dip=$(dockercli inspect -f '{{.NetworkSettings.IPAddress}}' web)
	sleep 0.5
	read -r d_direct d_direct_lat d_port d_port_lat <<<"$(wrk_pair "http://$dip/f" "http://127.0.0.1:18181/f")"
	dockercli rm -f web >/dev/null
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "$d_direct $d_direct_lat $d_port $d_port_lat ${d_bridge:-} ${d_none:-}"
}
read -r dp_direct dp_direct_lat dp_port dp_port_lat d_bridge d_none <<<"$(docker_net true)"
read -r dn_direct dn_direct_lat dn_port dn_port_lat _ _ <<<"$(docker_net false)"
iptables-restore <"$saved"
# iptables-restore leaves alone the tables the save did not have (dockerd's nat): drop those.
nft list tables | while read -r _ family name; do
	grep -qx "table $family $name" <<<"$tables_before" || nft delete table "$family" "$name"
done
ip link del docker0 2>/dev/null || true

ratio3() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$1" "$2"; }
printf '%-34s %12s %10s %12s %10s %8s\n' "HTTP 16 KiB keep-alive, wrk -t2 -c32" "direct req/s" "latency" "port req/s" "latency" "ratio"
printf '%-34s %12s %10s %12s %10s %8s\n' "berth" "$b_direct" "$b_direct_lat" "$b_port" "$b_port_lat" "$(ratio3 "$b_port" "$b_direct")"
printf '%-34s %12s %10s %12s %10s %8s\n' "docker 20.10, userland proxy" "$dp_direct" "$dp_direct_lat" "$dp_port" "$dp_port_lat" "$(ratio3 "$dp_port" "$dp_direct")"
printf '%-34s %12s %10s %12s %10s %8s\n' "docker 20.10, no userland proxy" "$dn_direct" "$dn_direct_lat" "$dn_port" "$dn_port_lat" "$(ratio3 "$dn_port" "$dn_direct")"
echo
printf '%-34s %10s %10s %12s\n' "run --rm busybox true (median ms)" "bridge" "none" "network cost"
printf '%-34s %10s %10s %12s\n' "berth" "$b_bridge" "$b_none" "$(python3 -c "print('%.1f' % ($b_bridge - $b_none))")"
printf '%-34s %10s %10s %12s\n' "berth, user-defined network" "$b_user" "$b_none" "$(python3 -c "print('%.1f' % ($b_user - $b_none))")"
printf '%-34s %10s %10s %12s\n' "docker 20.10" "$d_bridge" "$d_none" "$(python3 -c "print('%.1f' % ($d_bridge - $d_none))")"
echo
echo "targets: berth port/direct throughput >= 0.9; berth network cost < 20 ms"
