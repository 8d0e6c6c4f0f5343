#!/usr/bin/env bash
# Service VIPs (nftables, balanced in the client's namespace): on a Berth swarm of three nodes (lib.sh's nodes,
# as bench/overlay.sh's: daemons in network namespaces on a private bridge), a service of REPLICAS copies of
# httpserve (16 KiB per answer; on SIGTERM it answers "Connection: close" for a second, then exits) on an overlay
# network, and a client container on the manager's node on the same network; wrk runs from the host inside the
# client's namespace (nsenter). Side by side, ratios printed:
#   throughput through a one-task service's VIP against to its task's own address (kept-alive connections), and
#   through web's VIP (REPLICAS tasks on 3 nodes) against to one of them
#   new connections per second through the one-task service's VIP against to its task (Connection: close)
#   throughput through the routing mesh from a node without the task against to the task's address
#   failed requests (wrk's socket errors, timeouts and non-2xx) under steady load of both kinds while
#   `service update --force` replaces all the tasks one at a time, while the service is scaled down to half,
#   while one of the three nodes is drained, and while a task turns unhealthy and is replaced, through the VIP and
#   through the routing mesh (web publishes 8080), and the SYNs retransmitted meanwhile (a connection that waited)
# Docker swarm is no anchor here: its VIPs need IPVS, which this kernel lacks (docs/benchmarks.md quotes it).
# Usage: bench/vip.sh as root   (DURATION=10 seconds per run, ROUNDS=3 interleaved rounds, median reported;
#   HEALTH=0 runs the service without its health check (wget of /, every 250 ms while a task starts and every
#   second once healthy; the task a backend once healthy);
#   RUNS="throughput mesh update scale drain fail" picks the parts; CAPTURE=DIR records the client's TCP FINs and RSTs
#   during each change under load into DIR/NAME.pcap and node1's (the mesh's client) into DIR/NAME-mesh.pcap, with
#   wrk's output in DIR/wrk.log, the nodes' container events and their daemons' logs)
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
REPLICAS=${REPLICAS:-10}
RUNS=${RUNS:-throughput mesh update scale drain fail}
CAPTURE=${CAPTURE:-}
HEALTH=${HEALTH:-1}
want() { [[ " $RUNS " == *" $1 "* ]]; }
bench_install
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
busybox_tar
"$REPO/scripts/build.sh" "$BIN"
mkdir -p "$BENCH_DIR/httpserve"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BENCH_DIR/httpserve/httpserve" ./bench/internal/httpserve)
# With a shell and wget beside it (busybox), for the health check that tells a new task's readiness.
mkdir -p "$BENCH_DIR/httpserve/bin" && cp "$(command -v busybox)" "$BENCH_DIR/httpserve/bin/busybox"
ln -sf busybox "$BENCH_DIR/httpserve/bin/sh" && ln -sf busybox "$BENCH_DIR/httpserve/bin/wget"
tar -C "$BENCH_DIR/httpserve" -cf "$BENCH_DIR/httpserve.tar" httpserve bin

# Nodes 1..3 of this script are lib.sh's nodes 11..13 (their addresses' last byte), hostnames node1..node3.
trap nodes_cleanup EXIT
nodes_net bvip 253
PREFIX=$NODES_PREFIX
node() { local n=$1; shift; nodecli $((10 + n)) "$@"; }
for n in 1 2 3; do
	node_add berth $((10 + n)) "node$n"
	node "$n" import -c 'CMD ["/httpserve"]' - httpserve:latest <"$BENCH_DIR/httpserve.tar" >/dev/null
done
# node1's socket, for the docker CLI run by xargs (which runs no shell function).
NODE1_SOCK=$BENCH_DIR/node11.sock
node 1 swarm init --advertise-addr "$PREFIX.11" >/dev/null
tok=$(node 1 swarm join-token -q worker)
node 2 swarm join --token "$tok" "$PREFIX.11:2377" >/dev/null
node 3 swarm join --token "$tok" "$PREFIX.11:2377" >/dev/null
# The workers take tasks once ready: the service is spread over the three nodes.
for _ in $(seq 1 300); do [ "$(node 1 node ls --format '{{.Status}}' | grep -c Ready)" = 3 ] && break; sleep 0.1; done
node 1 network create -d overlay --attachable vipnet >/dev/null
# A task is a backend once RUNNING, and with a health check only once healthy: without one (HEALTH=0) a new
# task may be picked in the milliseconds before its server listens and refuse a connection, as in docker.
HEALTH_ARGS=()
# /sick in a task turns it unhealthy (the "fail" run).
# Probes every 250 ms while a task starts (a new task is a backend within a quarter of a second of listening),
# then every second: each probe starts two processes, and 44 a second cost a tenth of the two cores (perf: the C
# library's start-up, CPUID trapping to the hypervisor).
[ "$HEALTH" = 1 ] && HEALTH_ARGS=(--health-cmd '[ ! -e /sick ] && wget -q -O /dev/null http://127.0.0.1/' --health-start-period 60s
	--health-start-interval 250ms --health-interval 1s --health-timeout 2s --health-retries 2)
node 1 service create -d -q --no-resolve-image --name web --replicas "$REPLICAS" --network vipnet \
	"${HEALTH_ARGS[@]}" --update-parallelism 1 --update-delay 0s -p 8080:80 httpserve:latest >/dev/null
node 1 run -d --name client --network vipnet busybox sleep 36000 >/dev/null
for _ in $(seq 1 600); do
	[ "$(node 1 service ps -q --filter desired-state=running web | xargs -r "$DOCKER" -H "unix://$NODE1_SOCK" inspect -f '{{.Status.State}}' | grep -c running)" = "$REPLICAS" ] && break
	sleep 0.2
done
# web is on vipnet and, publishing 8080, on the ingress network: its VIP and its tasks' addresses on vipnet.
VIPNET_ID=$(node 1 network inspect -f '{{.Id}}' vipnet)
VIP=$(node 1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{if eq .NetworkID "'"$VIPNET_ID"'"}}{{.Addr}}{{end}}{{end}}' web); VIP=${VIP%/*}
# One task on another node than the client: the direct path crosses the overlay as most VIP connections do.
N2=$(node 2 info -f '{{.Swarm.NodeID}}')
TASK_IP=$(for id in $(node 1 service ps -q --filter desired-state=running web); do
	node 1 inspect -f '{{.NodeID}} {{range .NetworksAttachments}}{{if eq .Network.ID "'"$VIPNET_ID"'"}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}' "$id"; done | awk -v n="$N2" '$1 == n && !f {print $2; f = 1}')
TASK_IP=${TASK_IP%/*}
if [ -z "$TASK_IP" ]; then
	echo "no running task of web on node2:" >&2
	node 1 service ps web >&2
	for id in $(node 1 service ps -q --filter desired-state=running web); do node 1 inspect -f '{{.NodeID}} {{json .NetworksAttachments}}' "$id" >&2; done
	exit 1
fi
echo "tasks per node: $(node 1 service ps --filter desired-state=running --format '{{.Node}}' web | sort | uniq -c | tr -s ' \n' ' ')"
CLI_NS=$RUN_DIR/node11/netns/$(node 1 inspect -f '{{.Id}}' client)
for a in "$VIP" "$TASK_IP"; do
	for _ in $(seq 1 100); do nsenter --net="$CLI_NS" wrk -t1 -c1 -d1s "http://$a/" >/dev/null 2>&1 && break; sleep 0.2; done
done

# wrkrun ADDR CONNS SECONDS [wrk args...]: requests per second; also sets ERRS (socket errors, timeouts, non-2xx)
# and MBS (MB/s transferred). WRK_NS is the namespace wrk runs in (the client's), WRK_PATH the path (/).
WRK_NS=$CLI_NS
# node1's own namespace: a client of the routing mesh there reaches node1's published ports.
N1_NS=/run/netns/${NODES_NS[0]}
for _ in $(seq 1 100); do nsenter --net="$N1_NS" wrk -t1 -c1 -d1s "http://$PREFIX.11:8080/" 2>&1 | grep -q 'Requests/sec' && break; sleep 0.2; done
WRK_PATH=/
wrkrun() {
	local a=$1 c=$2 d=$3 out
	shift 3
	out=$(nsenter --net="$WRK_NS" wrk -t2 -c"$c" -d"${d}s" --timeout 5s "$@" "http://$a$WRK_PATH" 2>&1)
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
	MBS=$(echo "$out" | awk '/Transfer\/sec/ {v = $2; u = substr(v, length(v) - 1); v += 0; if (u == "GB") v *= 1024; if (u == "KB") v /= 1024; printf "%d\n", v}')
	echo "$out" | awk '/Requests\/sec/ {printf "%d\n", $2}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
# solo: a one-task service on node2, on vipnet (its VIP and its task's address there) and publishing 8081:80 (the
# routing mesh), for the measures that need one backend.
if want throughput || want mesh; then
	node 1 service create -d -q --no-resolve-image --name solo --replicas 1 --constraint node.hostname==node2 \
		--network vipnet -p 8081:80 httpserve:latest >/dev/null
	SOLO_IP=
	for _ in $(seq 1 600); do
		SOLO_IP=$(for id in $(node 1 service ps -q --filter desired-state=running solo); do
			node 1 inspect -f '{{.Status.State}} {{range .NetworksAttachments}}{{if eq .Network.ID "'"$VIPNET_ID"'"}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}' "$id"; done | awk '$1 == "running" {print $2}')
		[ -n "$SOLO_IP" ] && break
		sleep 0.2
	done
	[ -n "$SOLO_IP" ] || { echo "solo never ran:" >&2; node 1 service ps --no-trunc solo >&2; exit 1; }
	SOLO_IP=${SOLO_IP%/*}
	SOLO_VIP=$(node 1 service inspect -f '{{range .Endpoint.VirtualIPs}}{{if eq .NetworkID "'"$VIPNET_ID"'"}}{{.Addr}}{{end}}{{end}}' solo); SOLO_VIP=${SOLO_VIP%/*}
	for _ in $(seq 1 100); do nsenter --net="$N1_NS" wrk -t1 -c1 -d1s "http://$PREFIX.11:8081/" 2>&1 | grep -q 'Requests/sec' && \
		nsenter --net="$CLI_NS" wrk -t1 -c1 -d1s "http://$SOLO_IP/" 2>&1 | grep -q 'Requests/sec' && \
		nsenter --net="$CLI_NS" wrk -t1 -c1 -d1s "http://$SOLO_VIP/" 2>&1 | grep -q 'Requests/sec' && break; sleep 0.2; done
fi

# The VIP's own cost: solo's VIP against solo's task's address, from the client container on node1 — one backend,
# so only the VIP's DNAT differs. And web's VIP, spread over its tasks on the three nodes, against one of them on
# node2: on two cores this measures the servers as much as the VIP (ten processes each serving one or two of
# the 16 connections spend more CPU per request than one serving all 16; docs/benchmarks.md).
sv=(); sd=(); cv=(); cd=(); tv=(); td=()
want throughput && for _ in $(seq 1 "$ROUNDS"); do
	sv+=("$(wrkrun "$SOLO_VIP" 16 "$DURATION")")
	sd+=("$(wrkrun "$SOLO_IP" 16 "$DURATION")")
	cv+=("$(wrkrun "$SOLO_VIP" 16 "$DURATION" -H 'Connection: close')")
	cd+=("$(wrkrun "$SOLO_IP" 16 "$DURATION" -H 'Connection: close')")
	tv+=("$(wrkrun "$VIP" 16 "$DURATION")")
	td+=("$(wrkrun "$TASK_IP" 16 "$DURATION")")
done
want throughput && { SV=$(median "${sv[@]}"); SD=$(median "${sd[@]}"); CV=$(median "${cv[@]}"); CD=$(median "${cd[@]}"); TV=$(median "${tv[@]}"); TD=$(median "${td[@]}"); }

# The routing mesh from a node without the task against the task's own address: solo, from node1's namespace to
# node1's port 8081 (the node's DNAT to its ingress sandbox, the sandbox's DNAT and masquerade, the ingress overlay
# to node2) against from the client container on node1 to the task's vipnet address (the vipnet overlay to
# node2): one overlay hop each. 16 KiB answers (requests/s) and 1 MiB answers (MB/s), kept-alive connections.
if want mesh; then
	mr=(); dr=(); mb=(); db=()
	for _ in $(seq 1 "$ROUNDS"); do
		WRK_NS=$N1_NS; mr+=("$(wrkrun "$PREFIX.11:8081" 16 "$DURATION")")
		WRK_NS=$CLI_NS; dr+=("$(wrkrun "$SOLO_IP" 16 "$DURATION")")
		WRK_PATH=/1m
		WRK_NS=$N1_NS; wrkrun "$PREFIX.11:8081" 4 "$DURATION" >/dev/null; mb+=("$MBS")
		WRK_NS=$CLI_NS; wrkrun "$SOLO_IP" 4 "$DURATION" >/dev/null; db+=("$MBS")
		WRK_PATH=/
	done
	MR=$(median "${mr[@]}"); DR=$(median "${dr[@]}"); MB=$(median "${mb[@]}"); DB=$(median "${db[@]}")
fi
if want throughput || want mesh; then node 1 service rm solo >/dev/null; fi

# synretrans NS: the SYNs the kernel retransmitted in namespace NS so far. wrk counts a connection that never
# completes as nothing at all (no error, no timeout: its timeout runs from the request, which is never sent), so
# a connection left waiting (a lost SYN-ACK, a balancer picking a task that is gone) shows only here: each
# retransmission is a new connection that waited a second or more.
synretrans() { nsenter --net="$1" nstat -asz TcpExtTCPSynRetrans | awk '$1 == "TcpExtTCPSynRetrans" {print $2}'; }
# under_load NAME WINDOW CMD...: CMD while wrk loads the VIP with kept-alive and new connections, from 3 s before
# it to the end of WINDOW seconds; sets NAME's duration (ms) and failed requests in $BENCH_DIR/NAME-*.
under_load() {
	local name=$1 window=$2 t0 t1 ka nc mka mnc cap=()
	shift 2
	if [ -n "$CAPTURE" ]; then
		mkdir -p "$CAPTURE"
		nsenter --net="$CLI_NS" tcpdump -i eth0 -w "$CAPTURE/$name.pcap" -U -s 96 "${CAPTURE_FILTER:-tcp[tcpflags] & (tcp-fin|tcp-rst) != 0}" 2>/dev/null &
		cap=($!)
		# The mesh's clients are in node1's namespace: there on every interface (its loopback to the published
		# port, docker_gwbridge to the ingress sandbox).
		nsenter --net="$N1_NS" tcpdump -i any -w "$CAPTURE/$name-mesh.pcap" -U -s 96 "${CAPTURE_FILTER:-tcp[tcpflags] & (tcp-fin|tcp-rst) != 0}" 2>/dev/null &
		cap+=($!)
		sleep 0.5
	fi
	local syn_vip syn_mesh
	syn_vip=$(synretrans "$CLI_NS"); syn_mesh=$(synretrans "$N1_NS")
	( wrkrun "$VIP" 12 "$window" >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-keepalive"; [ "$ERRS" = 0 ] || echo "$name, kept-alive: $ERRS_DETAIL" >&2 ) &
	ka=$!
	( wrkrun "$VIP" 4 "$window" -H 'Connection: close' >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-new"; [ "$ERRS" = 0 ] || echo "$name, new connections: $ERRS_DETAIL" >&2 ) &
	nc=$!
	# And through the routing mesh: from node1's namespace to its published port 8080, balanced by its ingress
	# sandbox to the tasks on every node.
	( WRK_NS=$N1_NS; wrkrun "$PREFIX.11:8080" 8 "$window" >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-mesh-keepalive"; [ "$ERRS" = 0 ] || echo "$name, mesh kept-alive: $ERRS_DETAIL" >&2 ) &
	mka=$!
	( WRK_NS=$N1_NS; wrkrun "$PREFIX.11:8080" 4 "$window" -H 'Connection: close' >/dev/null; echo "$ERRS" >"$BENCH_DIR/$name-mesh-new"; [ "$ERRS" = 0 ] || echo "$name, mesh new connections: $ERRS_DETAIL" >&2 ) &
	mnc=$!
	sleep 3
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	wait "$ka" "$nc" "$mka" "$mnc"
	echo "$(($(synretrans "$CLI_NS") - syn_vip)) / $(($(synretrans "$N1_NS") - syn_mesh))" >"$BENCH_DIR/$name-syn"
	if [ "${#cap[@]}" -gt 0 ]; then
		kill "${cap[@]}"; wait "${cap[@]}" 2>/dev/null || true
		cp "$BENCH_DIR/wrk.log" "$CAPTURE/"
		for n in 1 2 3; do
			node "$n" events --since "$((t0 / 1000000000 - 5))" --until "$(date +%s)" --filter type=container \
				--format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}' >"$CAPTURE/$name-events$n" 2>&1 || true
			cp "$BENCH_DIR/node$((10 + n)).log" "$CAPTURE/node$n.log"
		done
	fi
	echo $(((t1 - t0) / 1000000)) >"$BENCH_DIR/$name-ms"
	if [ $(((t1 - t0) / 1000000)) -gt $(((window - 3) * 1000)) ]; then echo "warning: $name outlasted the load ($window s)" >&2; fi
}
running() { node 1 service ps -q --filter desired-state=running web | xargs -r "$DOCKER" -H "unix://$NODE1_SOCK" inspect -f '{{.NodeID}} {{.Status.State}}' | grep -c "${1:-} *running"; }
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
want update && under_load update $((REPLICAS * 6 + 10)) node 1 service update -q --force web >/dev/null
# tasks_to FILE: with CAPTURE, the running tasks' nodes and addresses into CAPTURE/FILE.
tasks_to() {
	[ -n "$CAPTURE" ] || return 0
	mkdir -p "$CAPTURE"
	for id in $(node 1 service ps -q --filter desired-state=running web); do
		node 1 inspect -f '{{.NodeID}} {{range .NetworksAttachments}}{{if eq .Network.ID "'"$VIPNET_ID"'"}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}' "$id"
	done >"$CAPTURE/$1"
}
tasks_to scale-before
want scale && under_load scale 25 node 1 service scale web=$((REPLICAS / 2)) >/dev/null
tasks_to scale-after
want drain && under_load drain 25 drain_node3
# fail_task: a task on node2 turns unhealthy (its health check fails from then on), until it is replaced: its
# agent takes it out of every node's balancers, stops it with its grace period and reports it FAILED; the
# orchestrator starts another.
fail_task() {
	local task cid want
	want=$(running)
	task=$(node 1 service ps -q --filter desired-state=running web | xargs -r "$DOCKER" -H "unix://$NODE1_SOCK" inspect \
		-f '{{.ID}} {{.NodeID}} {{.Status.State}}' | awk -v n="$N2" '$2 == n && $3 == "running" {print $1; exit}')
	[ -n "$task" ] || { echo "no running task of web on node2 to fail" >&2; return 0; }
	cid=$(node 1 inspect -f '{{.Status.ContainerStatus.ContainerID}}' "$task")
	node 2 exec "$cid" sh -c ': >/sick'
	for _ in $(seq 1 600); do
		[ "$(node 1 inspect -f '{{.Status.State}}' "$task")" = failed ] && [ "$(running)" = "$want" ] && break
		sleep 0.1
	done
	node 1 inspect -f '{{.Status.State}} {{.Status.Err}}' "$task" >"$BENCH_DIR/fail-how"
}
if want fail; then
	if [ "$HEALTH" = 1 ]; then under_load fail 25 fail_task; else echo "fail: skipped, the service has no health check (HEALTH=0)" >&2; fi
fi
if want throughput; then
	echo "Service VIP: a one-task service on node2 through its VIP against to the task's address, from a container on node1; wrk 2 threads, 16 connections, ${DURATION}s, median of $ROUNDS rounds"
	printf '%-58s %10s %10s %6s\n' "" "VIP" "task" "ratio"
	printf '%-58s %10s %10s %6s\n' "requests/s, kept-alive connections" "$SV" "$SD" "$(ratio "$SV" "$SD")"
	printf '%-58s %10s %10s %6s\n' "new connections/s (Connection: close)" "$CV" "$CD" "$(ratio "$CV" "$CD")"
	printf '%-58s %10s %10s %6s\n' "web's VIP ($REPLICAS tasks, 3 nodes) / one of them, kept-alive" "$TV" "$TD" "$(ratio "$TV" "$TD")"
	echo "rounds: VIP ${sv[*]} | task ${sd[*]} | VIP new ${cv[*]} | task new ${cd[*]} | web VIP ${tv[*]} | web task ${td[*]}"
fi
if want mesh; then
	echo "Routing mesh: a one-task service on node2, from node1 (without that task) to its published port against from a container on node1 to the task's address; wrk 2 threads, kept-alive, ${DURATION}s, median of $ROUNDS rounds"
	printf '%-58s %10s %10s %6s\n' "" "mesh" "task" "ratio"
	printf '%-58s %10s %10s %6s\n' "requests/s, 16 KiB answers, 16 connections" "$MR" "$DR" "$(ratio "$MR" "$DR")"
	printf '%-58s %10s %10s %6s\n' "MB/s, 1 MiB answers, 4 connections" "$MB" "$DB" "$(ratio "$MB" "$DB")"
	echo "rounds: mesh ${mr[*]} | task ${dr[*]} | mesh MB/s ${mb[*]} | task MB/s ${db[*]}"
fi
want update || want scale || want drain || want fail && echo "failed requests under wrk (VIP: 12 kept-alive connections / 4 connections anew per request; mesh: 8 / 4), and SYNs retransmitted (connections that waited a second or more: the client container's / node1's namespace), while:"
failed() { [ -f "$BENCH_DIR/$2-ms" ] && printf '  %-66s %6s ms  VIP %s / %s  mesh %s / %s  SYNs again %s\n' "$1" "$(cat "$BENCH_DIR/$2-ms")" "$(cat "$BENCH_DIR/$2-keepalive")" "$(cat "$BENCH_DIR/$2-new")" "$(cat "$BENCH_DIR/$2-mesh-keepalive")" "$(cat "$BENCH_DIR/$2-mesh-new")" "$(cat "$BENCH_DIR/$2-syn")"; return 0; }
failed "service update --force, $REPLICAS tasks one at a time, until converged" update
failed "service scale web=$((REPLICAS / 2)), until converged" scale
failed "node update --availability drain (one of 3 nodes, $(cat "$BENCH_DIR/drain-moved" 2>/dev/null) tasks), until moved" drain
failed "a task turned unhealthy, until replaced ($(cat "$BENCH_DIR/fail-how" 2>/dev/null))" fail
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
