#!/usr/bin/env bash
# Shared setup for Berth's benchmarks: private instances of berth, dockerd (Debian's docker.io) and podman, each
# with its own state under $BENCH_DIR, a busybox image made locally in each, and cleanup of everything started.
# Source it from a bench script; run as root from anywhere.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$(mktemp -d /tmp/berth-bench-XXXXXX)
BIN=$BENCH_DIR/bin
# What a standard host keeps under /run, a tmpfs (every engine's exec root, podman's runroot, the plain
# runtimes' --root), goes to a tmpfs here too. This VM's /run is on its root ext4, which has no journal: there
# creating a file costs ~200 us (ext4 scans past recently deleted inodes) against ~5 us on tmpfs.
run_tmpfs() {
	local d
	for d in /run /dev/shm; do
		[ "$(stat -f -c %T "$d" 2>/dev/null)" = tmpfs ] && { echo "$d"; return; }
	done
	echo /tmp
}
RUN_DIR=$(mktemp -d "$(run_tmpfs)/berth-bench-run-XXXXXX")
BERTH_SOCK=$BENCH_DIR/berth.sock
DOCKER_SOCK=$BENCH_DIR/docker.sock
PIDS=()

bench_install() {
	local need=()
	for pkg in hyperfine docker.io podman crun runc busybox-static tini; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
	done
	if [ ${#need[@]} -gt 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
}

# BERTH_BRIDGE names the berth daemon's default bridge once a script knows it; clean_berth_network removes that
# bridge, its firewall table and iptables accepts after the daemon stopped (a daemon keeps them, like docker0).
BERTH_BRIDGE=
clean_berth_network() {
	[ -n "$BERTH_BRIDGE" ] || return 0
	(cd "$REPO" && go run ./bench/internal/netclean "$BERTH_BRIDGE")
	BERTH_BRIDGE=
}

cleanup() {
	set +e
	if [ -S "$BERTH_SOCK" ]; then
		for id in $(berth ps -aq); do berth rm -f "$id" >/dev/null 2>&1; done
	fi
	if [ -S "$DOCKER_SOCK" ]; then
		for id in $(dockercli ps -aq); do dockercli rm -f "$id" >/dev/null 2>&1; done
	fi
	if [ -d "$BENCH_DIR/podman" ]; then
		in_crun_ns podman_cli rm -af >/dev/null 2>&1
	fi
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	clean_berth_network
	# Unmount whatever the engines left under the bench directories, deepest first.
	awk -v d="$BENCH_DIR/" -v r="$RUN_DIR/" 'index($5, d) == 1 || index($5, r) == 1 {print $5}' /proc/self/mountinfo |
		sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$BENCH_DIR" "$RUN_DIR"
}
trap cleanup EXIT

berth() { "$BIN/berth" -H "unix://$BERTH_SOCK" "$@"; }
dockercli() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker "$@"; }
podman_cli() {
	CONTAINERS_CONF=$BENCH_DIR/containers.conf podman --root "$BENCH_DIR/podman" --runroot "$RUN_DIR/podman" \
		--runtime crun --cgroup-manager cgroupfs --events-backend none "$@"
}
# crun 1.8 refuses this host's hybrid cgroup layout unless the cgroup2 mount is out of sight: run a command in a
# private mount namespace without it (a no-op on a pure v1 or v2 host).
in_crun_ns() {
	unshare --mount --propagation private bash -c "umount -l /sys/fs/cgroup/unified 2>/dev/null; $(declare -f podman_cli); BENCH_DIR=$BENCH_DIR; RUN_DIR=$RUN_DIR; \"\$@\"" _ "$@"
}

busybox_tar() {
	local rootfs=$BENCH_DIR/rootfs
	mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
	chmod 1777 "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . >"$BENCH_DIR/busybox.tar"
}

# start_berth [DAEMON FLAGS...]: build and start a private berth daemon (run-rm and detached pass --bridge none:
# they measure --network none, and then the daemon installs nothing on the host).
start_berth() {
	"$REPO/scripts/build.sh" "$BIN"
	echo '{}' >"$BENCH_DIR/berth.json"
	"$BIN/berth" daemon --data-root "$BENCH_DIR/berth" --exec-root "$RUN_DIR/berth" -H "unix://$BERTH_SOCK" \
		--pidfile "$BENCH_DIR/berth.pid" --config-file "$BENCH_DIR/berth.json" "$@" >"$BENCH_DIR/berth.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
	berth import -c 'CMD ["sh"]' - busybox:latest <"$BENCH_DIR/busybox.tar" >/dev/null
}

start_docker() {
	# No bridge and no iptables: nothing is left on the host, and `--network none` is what is measured.
	dockerd --data-root "$BENCH_DIR/docker" --exec-root "$RUN_DIR/docker" -H "unix://$DOCKER_SOCK" \
		--pidfile "$BENCH_DIR/docker.pid" --bridge none --iptables=false --ip6tables=false --ip-forward=false \
		--ip-masq=false --userland-proxy=false --config-file "$BENCH_DIR/berth.json" >"$BENCH_DIR/docker.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 300); do dockercli version >/dev/null 2>&1 && break; sleep 0.1; done
	dockercli import -c 'CMD ["sh"]' - busybox:latest <"$BENCH_DIR/busybox.tar" >/dev/null
}

start_podman() {
	# podman's default ulimits exceed this VM's hard limits; cap them at what the host allows.
	local nofile nproc
	nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
	[ "$nofile" = unlimited ] || [ "$nofile" -gt 32768 ] && nofile=32768
	[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n' "$nofile" "$nofile" "$nproc" "$nproc" >"$BENCH_DIR/containers.conf"
	in_crun_ns podman_cli import -c 'CMD ["sh"]' "$BENCH_DIR/busybox.tar" busybox:latest >/dev/null
}

# crun_bundle makes an OCI bundle running /bin/true for the plain-runtime anchors.
crun_bundle() {
	local b=$BENCH_DIR/bundle
	mkdir -p "$b"
	cp -a "$BENCH_DIR/rootfs" "$b/rootfs"
	(cd "$b" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' config.json)
}

# medians_ms CMD1 CMD2...: median wall times in ms of several commands benchmarked in one hyperfine call (so
# they share the machine's conditions), space-separated in argument order.
medians_ms() {
	local out=$BENCH_DIR/hf.json
	if ! hyperfine -N -w 3 -r "${RUNS:-30}" --export-json "$out" "$@" >"$BENCH_DIR/hf.log" 2>&1; then
		echo "benchmark failed: $*" >&2
		tail -5 "$BENCH_DIR/hf.log" >&2
		return 1
	fi
	python3 -c 'import json,sys; print(" ".join("%.1f" % (r["median"]*1000) for r in json.load(open(sys.argv[1]))["results"]))' "$out"
}

# median_ms CMD: the median of one command, as medians_ms measures it.
median_ms() { medians_ms "$1"; }

# sample_ms NAME RUNS CMD: run CMD RUNS times (after one warm-up) and append the wall times in ms to
# $BENCH_DIR/samples/NAME. Scripts call it once per engine in each of several rounds, so that a slow spell of this
# shared VM weighs on every engine alike; median_of NAME then gives the median of all of NAME's samples.
sample_ms() {
	local out=$BENCH_DIR/hf-$1.json
	mkdir -p "$BENCH_DIR/samples"
	if ! hyperfine -N -w 1 -r "$2" --export-json "$out" "$3" >"$BENCH_DIR/hf.log" 2>&1; then
		echo "benchmark failed: $3" >&2
		tail -5 "$BENCH_DIR/hf.log" >&2
		return 1
	fi
	python3 -c 'import json,sys; print("\n".join("%.3f" % (t*1000) for t in json.load(open(sys.argv[1]))["results"][0]["times"]))' "$out" >>"$BENCH_DIR/samples/$1"
}
median_of() {
	python3 -c 'import statistics,sys; print("%.1f" % statistics.median(float(l) for l in open(sys.argv[1])))' "$BENCH_DIR/samples/$1"
}

ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$1" "$2"; }

# Namespaced nodes, as the swarm e2e harness makes them: each node a daemon (berth or dockerd) in its own network
# and UTS namespace, on one private bridge with the host's address PREFIX.1, reached by the docker CLI through
# its socket $BENCH_DIR/nodeN.sock. nodes_net first, node_add for each node, `trap nodes_cleanup EXIT`.
NODES_BR=
NODES_PREFIX=
NODES_TAG=
NODES_NS=()
NODES_VETHS=()
NODES_SOCKS=()
DOCKER=$(command -v /usr/local/bin/docker /usr/bin/docker | head -1 || true)

# nodes_net NAME OCTET: the bridge (NAME and a random tag) on a /24 of 10.OCTET.0.0/16 (each script its own
# OCTET, so that two can run at once), forwarding between the nodes.
nodes_net() {
	NODES_TAG=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
	NODES_BR=$1$NODES_TAG
	NODES_PREFIX=10.$2.$((0x${NODES_TAG:0:2} % 250 + 1))
	ip link add "$NODES_BR" type bridge
	ip addr add "$NODES_PREFIX.1/24" dev "$NODES_BR"
	ip link set "$NODES_BR" up
	iptables -I FORWARD -i "$NODES_BR" -o "$NODES_BR" -m comment --comment "berth-bench-$1" -j ACCEPT
}

# nodecli N ARGS: the docker CLI against node N's daemon (the berth CLI has no swarm commands).
nodecli() { local n=$1; shift; DOCKER_HOST="unix://$BENCH_DIR/node$n.sock" DOCKER_CONFIG=$BENCH_DIR/docker-config "$DOCKER" "$@"; }

# node_add ENGINE N [HOSTNAME]: node N, a namespace on the bridge with address PREFIX.N (default route via the
# bridge) and a daemon of ENGINE (berth, or docker: Debian's docker.io dockerd) in it, hostname HOSTNAME (nodeN
# by default), busybox:latest imported; returns once the daemon answers. Its socket is $BENCH_DIR/nodeN.sock,
# its exec root $RUN_DIR/nodeN, its namespace /run/netns/${NODES_NS[i]} (i counting node_add calls from 0).
node_add() {
	local engine=$1 n=$2 host=${3:-node$2} ns=bn-$NODES_TAG-$2 sock=$BENCH_DIR/node$2.sock
	ip netns add "$ns"
	NODES_NS+=("$ns")
	ip link add "vn$NODES_TAG$n" type veth peer name eth0 netns "$ns"
	NODES_VETHS+=("vn$NODES_TAG$n")
	ip link set "vn$NODES_TAG$n" master "$NODES_BR" up
	ip -n "$ns" addr add "$NODES_PREFIX.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" route add default via "$NODES_PREFIX.1"
	# NODES_LOG_LEVEL (debug, …) for the daemons' logs in $BENCH_DIR/nodeN.log (both engines read it from daemon.json).
	if [ -n "${NODES_LOG_LEVEL:-}" ]; then echo "{\"log-level\": \"$NODES_LOG_LEVEL\"}"; else echo '{}'; fi >"$BENCH_DIR/node$n.json"
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's: the hostname, then the daemon's command.
	local run=(unshare --uts -- sh -c 'hostname "$0" && exec nsenter --net=/run/netns/'"$ns"' -- "$@"' "$host")
	if [ "$engine" = berth ]; then
		"${run[@]}" "$BIN/berth" daemon --data-root "$BENCH_DIR/node$n" --exec-root "$RUN_DIR/node$n" -H "unix://$sock" \
			--pidfile "$BENCH_DIR/node$n.pid" --config-file "$BENCH_DIR/node$n.json" --bridge none >"$BENCH_DIR/node$n.log" 2>&1 &
	else
		# The image is on every node: the workers use it instead of asking a registry (offline here).
		"${run[@]}" env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd --data-root "$BENCH_DIR/node$n" --exec-root "$RUN_DIR/node$n" \
			-H "unix://$sock" --pidfile "$BENCH_DIR/node$n.pid" --config-file "$BENCH_DIR/node$n.json" --bridge none \
			--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --userland-proxy=false >"$BENCH_DIR/node$n.log" 2>&1 &
	fi
	PIDS+=($!)
	NODES_SOCKS+=("$sock")
	# Containers' pids as the daemons report them are this pid namespace's (bench/swarm.sh signals them).
	if [ "$(readlink "/proc/$!/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
		echo "node$n's daemon is in another pid namespace" >&2
		exit 1
	fi
	for _ in $(seq 1 300); do nodecli "$n" version >/dev/null 2>&1 && break; sleep 0.1; done
	nodecli "$n" import -c 'CMD ["sh"]' - busybox:latest <"$BENCH_DIR/busybox.tar" >/dev/null
}

# nodes_cleanup removes what the nodes made before lib.sh's cleanup: their containers first (the shims outlive a
# daemon), the daemons, the namespaces, the bridge and its forwarding rule.
nodes_cleanup() {
	set +e
	for s in "${NODES_SOCKS[@]}"; do
		local c=(env DOCKER_HOST="unix://$s" DOCKER_CONFIG="$BENCH_DIR/docker-config" "$DOCKER")
		"${c[@]}" swarm leave -f >/dev/null 2>&1
		for id in $("${c[@]}" ps -aq 2>/dev/null); do "${c[@]}" rm -f "$id" >/dev/null 2>&1; done
	done
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	PIDS=()
	# The veths go first, at once: a deleted namespace is torn down later by the kernel (seconds after a run
	# with many containers), and its end of a veth with it, which would leave the host's end listed meanwhile.
	for v in "${NODES_VETHS[@]}"; do ip link del "$v" 2>/dev/null; done
	for ns in "${NODES_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$NODES_BR" ]; then
		ip link del "$NODES_BR" 2>/dev/null
		iptables -D FORWARD -i "$NODES_BR" -o "$NODES_BR" -m comment --comment "berth-bench-${NODES_BR%"$NODES_TAG"}" -j ACCEPT 2>/dev/null
	fi
	cleanup
}
