#!/usr/bin/env bash
# Push and pull of an image with one 200 MB layer of random data (it doesn't compress) through Berth, docker
# (Debian's dockerd 20.10) and skopeo, against Debian's docker-registry (the CNCF reference registry) on
# loopback, in one run. Each round uses a fresh registry, so nothing is skipped or mounted; each pull starts
# from a store without the image. Every timed step starts after a `sync`, so no engine pays for writing back
# what an earlier step left dirty (Berth's layer commit syncs its filesystem). Prints the median MiB/s of ROUNDS
# rounds (default 3) and ratios.
# Usage: bench/distribution.sh as root   (SIZE_MB=N to change the layer size)
source "$(dirname "$0")/lib.sh"
bench_install
for pkg in docker-registry skopeo; do
	dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done
SIZE_MB=${SIZE_MB:-200}
ROUNDS=${ROUNDS:-3}
busybox_tar
start_berth --bridge none
start_docker

# The image: one layer holding SIZE_MB of random bytes.
mkdir -p "$BENCH_DIR/big"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$BENCH_DIR/big/random.bin"
tar -C "$BENCH_DIR/big" -cf "$BENCH_DIR/big.tar" .
berth import - big:latest <"$BENCH_DIR/big.tar" >/dev/null
dockercli import - big:latest <"$BENCH_DIR/big.tar" >/dev/null
berth save big:latest >"$BENCH_DIR/big-archive.tar"

REG_PID=
# start_registry: a fresh docker-registry on a free loopback port; sets REG.
start_registry() {
	stop_registry
	local port storage
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	storage=$(mktemp -d "$BENCH_DIR/registry-XXXX")
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$storage" "$port" >"$storage.yml"
	docker-registry serve "$storage.yml" >>"$BENCH_DIR/registry.log" 2>&1 &
	REG_PID=$!
	PIDS+=($REG_PID)
	REG=127.0.0.1:$port
	for _ in $(seq 1 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
}
stop_registry() {
	if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; REG_PID=; fi
}

now() { date +%s.%N; }
mibs() { python3 -c "import sys; print('%.1f' % ($SIZE_MB / (float(sys.argv[2]) - float(sys.argv[1]))))" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a bpush bpull dpush dpull spush spull
for round in $(seq 1 "$ROUNDS"); do
	# One fresh registry per round; the three pushes, then the three pulls, back to back so they share the
	# machine's conditions (other work on this VM changes them from one minute to the next).
	start_registry
	berth tag big:latest "$REG/bench/berth:1"
	dockercli tag big:latest "$REG/bench/docker:1"
	sync; t0=$(now); berth push "$REG/bench/berth:1" >/dev/null; t1=$(now)
	bpush+=("$(mibs "$t0" "$t1")")
	sync; t0=$(now); dockercli push "$REG/bench/docker:1" >/dev/null; t1=$(now)
	dpush+=("$(mibs "$t0" "$t1")")
	sync; t0=$(now); skopeo copy -q --dest-tls-verify=false "docker-archive:$BENCH_DIR/big-archive.tar" "docker://$REG/bench/skopeo:1"; t1=$(now)
	spush+=("$(mibs "$t0" "$t1")")

	berth rmi "$REG/bench/berth:1" big:latest >/dev/null
	dockercli rmi "$REG/bench/docker:1" big:latest >/dev/null
	rm -rf "$BENCH_DIR/skopeo-dir"
	sync; t0=$(now); berth pull -q "$REG/bench/berth:1" >/dev/null; t1=$(now)
	bpull+=("$(mibs "$t0" "$t1")")
	sync; t0=$(now); dockercli pull -q "$REG/bench/docker:1" >/dev/null; t1=$(now)
	dpull+=("$(mibs "$t0" "$t1")")
	sync; t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$REG/bench/skopeo:1" "dir:$BENCH_DIR/skopeo-dir"; t1=$(now)
	spull+=("$(mibs "$t0" "$t1")")

	# Back to one local name, so the next round pushes and pulls everything again.
	berth tag "$REG/bench/berth:1" big:latest
	berth rmi "$REG/bench/berth:1" >/dev/null
	dockercli tag "$REG/bench/docker:1" big:latest
	dockercli rmi "$REG/bench/docker:1" >/dev/null
	stop_registry
done

bp=$(median "${bpush[@]}"); bl=$(median "${bpull[@]}")
dp=$(median "${dpush[@]}"); dl=$(median "${dpull[@]}")
sp=$(median "${spush[@]}"); sl=$(median "${spull[@]}")
printf '%-44s %10s %10s\n' "one ${SIZE_MB} MB random layer, median of $ROUNDS" "push MiB/s" "pull MiB/s"
printf '%-44s %10s %10s\n' "berth" "$bp" "$bl"
printf '%-44s %10s %10s\n' "docker 20.10" "$dp" "$dl"
printf '%-44s %10s %10s\n' "skopeo 1.9 (docker-archive -> registry -> dir:)" "$sp" "$sl"
echo
echo "rounds: berth push ${bpush[*]} pull ${bpull[*]}; docker push ${dpush[*]} pull ${dpull[*]}; skopeo push ${spush[*]} pull ${spull[*]}"
echo "ratios (target: berth/skopeo >= 1)"
echo "berth/skopeo push = $(ratio "$bp" "$sp")   berth/skopeo pull = $(ratio "$bl" "$sl")"
echo "berth/docker push = $(ratio "$bp" "$dp")   berth/docker pull = $(ratio "$bl" "$dl")"
