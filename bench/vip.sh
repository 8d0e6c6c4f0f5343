#!/usr/bin/env bash
# Service VIPs (nftables, balanced in the client's namespace): on a Berth swarm of three nodes (daemons in network
# namespaces on a private bridge, as bench/overlay.sh makes them), a service of REPLICAS copies of httpserve (16 KiB
# per answer; on SIGTERM it answers "Connection: close" for a second, then exits) on an overlay network, and a
# client container on the manager's node on the same network; wrk runs from the host inside the client's
# namespace (nsenter). Side by side, ratios printed:
#   throughput through the VIP against to one task's own address (kept-alive connections)
#   new connections per second through the VIP against to one task (Connection: close on every request)
#   failed requests (wrk's socket errors, timeouts and non-2xx) under steady load of both kinds while
#   `service update --force` replaces all the tasks one at a time, while the service is scaled down to half,
#   and while one of the three nodes is drained
# Docker swarm is no anchor here: its VIPs need IPVS, which this kernel lacks (docs/benchmarks.md quotes it).
# Usage: bench/vip.sh as root   (DURATION=10 seconds per run, ROUNDS=3 interleaved rounds, median reported)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
REPLICAS=${REPLICAS:-10}
bench_install
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
busybox_tar
"$REPO/scripts/build.sh" "$BIN"
mkdir -p "$BENCH_DIR/httpserve"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BENCH_DIR/httpserve/httpserve" ./bench/internal/httpserve)
tar -C "$BENCH_DIR/httpserve" -cf "$BENCH_DIR/httpserve.tar" httpserve

TAG=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
BR=bvip$TAG
PREFIX=10.253.$((0x${TAG:0:2} % 250 + 1))
NODES=()
cleanup_nodes() {
	set +e
	node 1 service rm web >/dev/null 2>&1
	for i in "${!NODES[@]}"; do
		local n=$((i + 1))
		for id in $(node "$n" ps -aq 2>/dev/null); do node "$n" rm -f "$id" >/dev/null 2>&1; done
	done
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	PIDS=()
	for ns in "${NODES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	ip link del "$BR" 2>/dev/null
	iptables -D FORWARD -i "$BR" -o "$BR" -m comment --comment berth-bench-vip -j ACCEPT 2>/dev/null
	cleanup
}
trap cleanup_nodes EXIT

node() { local n=$1; shift; DOCKER_HOST="unix://$BENCH_DIR/node$n.sock" DOCKER_CONFIG=$BENCH_DIR/docker-config "$DOCKER" "$@"; }
DOCKER=$(command -v /usr/local/bin/docker /usr/bin/docker | head -1)

# add_node N: a namespace on the bridge with address PREFIX.(10+N), a daemon in it, busybox and httpserve images.
add_node() {
	local n=$1 ns=bvip-$TAG-$1
	ip netns add "$ns"
	NODES+=("$ns")
	ip link add "vvp$TAG$n" type veth peer name eth0 netns "$ns"
	ip link set "vvp$TAG$n" master "$BR" up
	ip -n "$ns" addr add "$PREFIX.$((10 + n))/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" route add default via "$PREFIX.1"
	echo '{}' >"$BENCH_DIR/node$n.json"
	unshare --uts -- sh -c 'hostname "$0" && exec nsenter --net=/run/netns/'"$ns"' -- "$@"' "node$n" \
		"$BIN/berth" daemon --data-root "$BENCH_DIR/node$n" --exec-root "$RUN_DIR/node$n" -H "unix://$BENCH_DIR/node$n.sock" \
		--pidfile "$BENCH_DIR/node$n.pid" --config-file "$BENCH_DIR/node$n.json" --bridge none >"$BENCH_DIR/node$n.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 100); do "$BIN/berth" -H "unix://$BENCH_DIR/node$n.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	node "$n" import -c 'CMD ["sh"]' - busybox:latest <"$BENCH_DIR/busybox.tar" >/dev/null
	node "$n" import -c 'CMD ["/httpserve"]' - httpserve:latest <"$BENCH_DIR/httpserve.tar" >/dev/null
}

ip link add "$BR" type bridge
ip addr add "$PREFIX.1/24" dev "$BR"
ip link set "$BR" up
iptables -I FORWARD -i "$BR" -o "$BR" -m comment --comment berth-bench-vip -j ACCEPT
add_node 1; add_node 2; add_node 3
node 1 swarm init --advertise-addr "$PREFIX.11" >/dev/null
tok=$(node 1 swarm join-token -q worker)
node 2 swarm join --token "$tok" "$PREFIX.11:2377" >/dev/null
node 3 swarm join --token "$tok" "$PREFIX.11:2377" >/dev/null
# The workers take tasks once ready: the service is spread over the three nodes.
for _ in $(seq 1 300); do [ "$(node 1 node ls --format '{{.Status}}' | grep -c Ready)" = 3 ] && break; sleep 0.1; done
node 1 network create -d overlay --attachable vipnet >/dev/null
node 1 service create -d -q --no-resolve-image --name web --replicas "$REPLICAS" --network vipnet \
	--update-parallelism 1 --update-delay 0s httpserve:latest >/dev/null
node 1 run -d --name client --network vipnet busybox sleep 36000 >/dev/null
for _ in $(seq 1 600); do
	[ "$(node 1 service ps -q --filter desired-state=running web | xargs -r "$DOCKER" -H "unix://$BENCH_DIR/node1.sock" inspect -f '{{.Status.State}}' | grep -c running)" = "$REPLICAS" ] && break
	sleep 0.2
done
VIP=$(node 1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}' web); VIP=${VIP%/*}
# One task on another node than the client: the direct path crosses the overlay as most VIP connections do.
N2=$(node 2 info -f '{{.Swarm.NodeID}}')
TASK_IP=$(for id in $(node 1 service ps -q --filter desired-state=running web); do
	node 1 inspect -f '{{.NodeID}} {{range .NetworksAttachments}}{{range .Addresses}}{{.}}{{end}}{{end}}' "$id"; done | awk -v n="$N2" '$1 == n && !f {print $2; f = 1}')
TASK_IP=${TASK_IP%/*}
if [ -z "$TASK_IP" ]; then
	echo "no running task of web on node2:" >&2
	node 1 service ps web >&2
	for id in $(node 1 service ps -q --filter desired-state=running web); do node 1 inspect -f '{{.NodeID}} {{json .NetworksAttachments}}' "$id" >&2; done
	exit 1
fi
echo "tasks per node: $(node 1 service ps --filter desired-state=running --format '{{.Node}}' web | sort | uniq -c | tr -s ' \n' ' ')"
CLI_NS=$RUN_DIR/node1/netns/$(node 1 inspect -f '{{.Id}}' client)
for a in "$VIP" "$TASK_IP"; do
	for _ in $(seq 1 100); do nsenter --net="$CLI_NS" wrk -t1 -c1 -d1s "http://$a/" >/dev/null 2>&1 && break; sleep 0.2; done
done

# wrkrun ADDR CONNS SECONDS [wrk args...]: requests per second; also sets ERRS (socket errors, timeouts, non-2xx).
wrkrun() {
	local a=$1 c=$2 d=$3 out
	shift 3
	out=$(nsenter --net="$CLI_NS" wrk -t2 -c"$c" -d"${d}s" --timeout 5s "$@" "http://$a/" 2>&1)
	echo "$out" >>"$BENCH_DIR/wrk.log"
	ERRS=$(echo "$out" | python3 -c '
import re, sys
s = sys.stdin.read(); n = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", s)
if m: n += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", s)
if m: n += int(m.group(1))
print(n)')
	ERRS_DETAIL=$(echo "$out" | grep -E 'Socket errors|Non-2xx' | tr -s ' \n' ' ' || true)
	echo "$out" | awk '/Requests\/sec/ {printf "%d\n", $2}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
tv=(); td=(); cv=(); cd=()
for _ in $(seq 1 "$ROUNDS"); do
	tv+=("$(wrkrun "$VIP" 16 "$DURATION")")
	td+=("$(wrkrun "$TASK_IP" 16 "$DURATION")")
	cv+=("$(wrkrun "$VIP" 16 "$DURATION" -H 'Connection: close')")
	cd+=("$(wrkrun "$TASK_IP" 16 "$DURATION" -H 'Connection: close')")
done
TV=$(median "${tv[@]}"); TD=$(median "${td[@]}"); CV=$(median "${cv[@]}"); CD=$(median "${cd[@]}")

# under_load NAME WINDOW CMD...: CMD while wrk loads the VIP with kept-alive and new connections, from 3 s before
# it to the end of WINDOW seconds; sets NAME's duration (ms) and failed requests in $BENCH_DIR/NAME-*.
under_load() {
	local name=$1 window=$2 t0 t1 ka nc
	shift 2
	( wrkrun "$VIP" 12 "$window" >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-keepalive"; [ "$ERRS" = 0 ] || echo "$name, kept-alive: $ERRS_DETAIL" >&2 ) &
	ka=$!
	( wrkrun "$VIP" 4 "$window" -H 'Connection: close' >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-new"; [ "$ERRS" = 0 ] || echo "$name, new connections: $ERRS_DETAIL" >&2 ) &
	nc=$!
	sleep 3
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	wait "$ka" "$nc"
	echo $(((t1 - t0) / 1000000)) >"$BENCH_DIR/$name-ms"
	if [ $(((t1 - t0) / 1000000)) -gt $(((window - 3) * 1000)) ]; then echo "warning: $name outlasted the load ($window s)" >&2; fi
}
running() { node 1 service ps -q --filter desired-state=running web | xargs -r "$DOCKER" -H "unix://$BENCH_DIR/node1.sock" inspect -f '{{.NodeID}} {{.Status.State}}' | grep -c "${1:-} *running"; }
# drain_node3: node3 drained, until its tasks run elsewhere.
drain_node3() {
	local n3 want
	n3=$(node 3 info -f '{{.Swarm.NodeID}}')
	want=$(running)
	running "$n3" >"$BENCH_DIR/drain-moved" || true
	node 1 node update --availability drain "$n3" >/dev/null
	for _ in $(seq 1 600); do
		[ "$(running "$n3")" = 0 ] && [ "$(running)" = "$want" ] && break
		sleep 0.1
	done
}
# A rolling update of every task, one at a time; a scale-down to half; a node drained.
under_load update $((REPLICAS * 6 + 10)) node 1 service update -q --force web >/dev/null
under_load scale 25 node 1 service scale web=$((REPLICAS / 2)) >/dev/null
under_load drain 25 drain_node3
echo "Service VIP on 3 nodes, $REPLICAS replicas of httpserve (16 KiB answers), client on the manager; wrk 2 threads, 16 connections, ${DURATION}s, median of $ROUNDS rounds"
printf '%-58s %10s %10s %6s\n' "" "VIP" "one task" "ratio"
printf '%-58s %10s %10s %6s\n' "requests/s, kept-alive connections" "$TV" "$TD" "$(ratio "$TV" "$TD")"
printf '%-58s %10s %10s %6s\n' "new connections/s (Connection: close)" "$CV" "$CD" "$(ratio "$CV" "$CD")"
echo "rounds: VIP ${tv[*]} | task ${td[*]} | VIP new ${cv[*]} | task new ${cd[*]}"
echo "failed requests under wrk (12 kept-alive connections / 4 connections anew per request), while:"
printf '  %-66s %6s ms %6s / %s\n' "service update --force, $REPLICAS tasks one at a time, until converged" "$(cat "$BENCH_DIR/update-ms")" "$(cat "$BENCH_DIR/update-keepalive")" "$(cat "$BENCH_DIR/update-new")"
printf '  %-66s %6s ms %6s / %s\n' "service scale web=$((REPLICAS / 2)), until converged" "$(cat "$BENCH_DIR/scale-ms")" "$(cat "$BENCH_DIR/scale-keepalive")" "$(cat "$BENCH_DIR/scale-new")"
printf '  %-66s %6s ms %6s / %s\n' "node update --availability drain (one of 3 nodes, $(cat "$BENCH_DIR/drain-moved") tasks), until moved" "$(cat "$BENCH_DIR/drain-ms")" "$(cat "$BENCH_DIR/drain-keepalive")" "$(cat "$BENCH_DIR/drain-new")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
