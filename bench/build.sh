#!/usr/bin/env bash
# Image builds: Berth's builder against docker 20.10's classic builder and BuildKit (Debian's CLI with
# DOCKER_BUILDKIT=0/1 against a private dockerd) and `podman build`, side by side in one run, on one Dockerfile:
# FROM busybox, a RUN, a 50 MB COPY, a RUN writing 10 files, CMD. "cold" is a build with --no-cache (the base
# image is local everywhere; each run's image is removed before the next), "cached" a rebuild of the unchanged
# context, every step from the cache. RUNs use --network none on every engine (the bench dockerd has no bridge).
# Usage: bench/build.sh as root   (RUNS=N to change the number of runs, default 10)
source "$(dirname "$0")/lib.sh"
bench_install
busybox_tar
start_berth --bridge none
start_docker
start_podman

CTX=$BENCH_DIR/ctx
mkdir -p "$CTX"
head -c $((50 << 20)) /dev/urandom >"$CTX/blob.bin"
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo hello > /hello
COPY blob.bin /data/blob.bin
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo "file $i" > /data/f$i; done
CMD ["sh"]
EOF
RUNS=${RUNS:-10}

B="$BIN/berth -H unix://$BERTH_SOCK"
# the docker 28 CLI against Berth: the classic protocol, the whole context sent every time
DB="env DOCKER_HOST=unix://$BERTH_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/local/bin/docker"
D="env DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker"
P="env CONTAINERS_CONF=$BENCH_DIR/containers.conf podman --root $BENCH_DIR/podman --runroot $RUN_DIR/podman --runtime crun --cgroup-manager cgroupfs --events-backend none"

# hf OUT [-p PREPARE CMD]...: hyperfine with per-command prepare steps; prints the medians in ms in order.
hf() {
	local out=$1
	shift
	if ! hyperfine -N -w 2 -r "$RUNS" --export-json "$out" "$@" >"$out.log" 2>&1; then
		echo "benchmark failed: $*" >&2
		tail -5 "$out.log" >&2
		return 1
	fi
	python3 -c 'import json,sys; print(" ".join("%.1f" % (r["median"]*1000) for r in json.load(open(sys.argv[1]))["results"]))' "$out"
}

# Warm every engine's cache once, so "cached" has something to hit.
$B build -q --network none -t bench "$CTX" >/dev/null
$DB build -q --network none -t bench-d "$CTX" >/dev/null 2>&1
DOCKER_BUILDKIT=0 $D build -q --network none -t bench-classic "$CTX" >/dev/null
DOCKER_BUILDKIT=1 $D build -q --network none -t bench-kit "$CTX" >/dev/null 2>&1
in_crun_ns bash -c "$P build -q --network none -t bench $CTX" >/dev/null

read -r berth_cached dberth_cached classic_cached kit_cached < <(hf "$BENCH_DIR/cached.json" \
	"$B build -q --network none -t bench $CTX" \
	"$DB build -q --network none -t bench-d $CTX" \
	"env DOCKER_BUILDKIT=0 $D build -q --network none -t bench-classic $CTX" \
	"env DOCKER_BUILDKIT=1 $D build -q --network none -t bench-kit $CTX")
read -r berth_cold dberth_cold classic_cold kit_cold < <(hf "$BENCH_DIR/cold.json" \
	-p "sh -c '$B rmi -f cold >/dev/null 2>&1; $B image prune -f >/dev/null'" "$B build -q --no-cache --network none -t cold $CTX" \
	-p "sh -c '$B rmi -f cold-d >/dev/null 2>&1; $B image prune -f >/dev/null'" "$DB build -q --no-cache --network none -t cold-d $CTX" \
	-p "sh -c '$D rmi -f cold-classic >/dev/null 2>&1; $D image prune -f >/dev/null'" "env DOCKER_BUILDKIT=0 $D build -q --no-cache --network none -t cold-classic $CTX" \
	-p "sh -c '$D rmi -f cold-kit >/dev/null 2>&1; $D image prune -f >/dev/null'" "env DOCKER_BUILDKIT=1 $D build -q --no-cache --network none -t cold-kit $CTX")
read -r podman_cached podman_cold < <(in_crun_ns bash -c "RUNS=$RUNS; $(declare -f hf); hf $BENCH_DIR/podman.json \
	'$P build -q --network none -t bench $CTX' \
	-p \"sh -c '$P rmi -f cold >/dev/null 2>&1; $P image prune -f >/dev/null'\" '$P build -q --no-cache --network none -t cold $CTX'")

printf '%-40s %10s %10s\n' "build, median ms" "cold" "cached"
printf '%-40s %10s %10s\n' "berth (berth build)" "$berth_cold" "$berth_cached"
printf '%-40s %10s %10s\n' "berth (docker 28 CLI, classic protocol)" "$dberth_cold" "$dberth_cached"
printf '%-40s %10s %10s\n' "docker 20.10 classic builder" "$classic_cold" "$classic_cached"
printf '%-40s %10s %10s\n' "docker 20.10 BuildKit" "$kit_cold" "$kit_cached"
printf '%-40s %10s %10s\n' "podman build" "$podman_cold" "$podman_cached"
echo
echo "ratios (target: berth/BuildKit <= 1 cold and cached)"
echo "cold:   berth / BuildKit = $(ratio "$berth_cold" "$kit_cold")   berth / classic = $(ratio "$berth_cold" "$classic_cold")   berth / podman = $(ratio "$berth_cold" "$podman_cold")"
echo "docker CLI on berth: cold / BuildKit = $(ratio "$dberth_cold" "$kit_cold")   cached / BuildKit = $(ratio "$dberth_cached" "$kit_cached")"
echo "cached: berth / BuildKit = $(ratio "$berth_cached" "$kit_cached")   berth / classic = $(ratio "$berth_cached" "$classic_cached")   berth / podman = $(ratio "$berth_cached" "$podman_cached")"
