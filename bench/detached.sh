#!/usr/bin/env bash
# 50 detached `sleep` containers started 8 at a time, then the memory each engine spends per running container
# (its shim: berth-shim, containerd-shim-runc-v2, conmon), for Berth, docker and podman in one run.
# Usage: bench/detached.sh as root   (N=50 containers, P=8 in parallel, ROUNDS=3: the median round is reported;
# memory is read while the last round's containers run)
source "$(dirname "$0")/lib.sh"
N=${N:-50}
P=${P:-8}
ROUNDS=${ROUNDS:-3}
bench_install
busybox_tar
start_berth --bridge none
start_docker
start_podman

# elapsed_s CMD...: wall seconds of one run.
elapsed_s() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@"
	t1=$(date +%s.%N)
	python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1"
}

# mem_of PATTERN: mean RSS and PSS in KiB over the processes whose command line matches PATTERN.
mem_of() {
	local rss=0 pss=0 n=0
	for pid in $(pgrep -f "$1"); do
		r=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		[ -n "$r" ] || continue
		rss=$((rss + r)); pss=$((pss + p)); n=$((n + 1))
	done
	[ "$n" -gt 0 ] || { echo "0 0 0"; return; }
	echo "$n $((rss / n)) $((pss / n))"
}

run_berth() { seq "$N" | xargs -P "$P" -I{} "$BIN/berth" -H "unix://$BERTH_SOCK" run -d --runtime runc busybox sleep 100000 >/dev/null; }
run_berth_crun() { seq "$N" | xargs -P "$P" -I{} "$BIN/berth" -H "unix://$BERTH_SOCK" run -d --runtime crun busybox sleep 100000 >/dev/null; }
run_docker() { seq "$N" | DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_CONFIG=$BENCH_DIR/docker-config xargs -P "$P" -I{} /usr/bin/docker run -d --network none busybox sleep 100000 >/dev/null; }
run_podman() {
	in_crun_ns bash -c "seq $N | xargs -P $P -I{} env CONTAINERS_CONF=$BENCH_DIR/containers.conf podman --root $BENCH_DIR/podman --runroot $RUN_DIR/podman --runtime crun --cgroup-manager cgroupfs --events-backend none run -d --network none busybox sleep 100000 >/dev/null"
}

clean_berth() { for id in $(berth ps -aq); do berth rm -f "$id" >/dev/null; done; }
clean_docker() { for id in $(dockercli ps -aq); do dockercli rm -f "$id" >/dev/null; done; }
clean_podman() { in_crun_ns podman_cli rm -af -t 0 >/dev/null 2>&1 || true; }

# rounds RUN CLEAN PATTERN: runs ROUNDS rounds, prints the median seconds and the memory of the last round.
rounds() {
	local times=() mem
	for r in $(seq 1 "$ROUNDS"); do
		times+=("$(elapsed_s "$1")")
		[ "$r" -lt "$ROUNDS" ] && "$2"
	done
	mem=$(mem_of "$3")
	"$2"
	echo "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $mem"
}

read -r berth_s bn brss bpss <<<"$(rounds run_berth clean_berth "$BENCH_DIR/bin/berth-shim")"
read -r berth_crun_s bcn bcrss bcpss <<<"$(rounds run_berth_crun clean_berth "$BENCH_DIR/bin/berth-shim")"
read -r docker_s dn drss dpss <<<"$(rounds run_docker clean_docker "containerd-shim-runc-v2 -namespace moby")"
read -r podman_s pn prss ppss <<<"$(rounds run_podman clean_podman "conmon --api-version 1 -c")"

rate() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1])/float(sys.argv[2])))" "$1" "$2"; }
printf '%-28s %9s %9s %6s %12s %12s\n' "$N detached, $P parallel" "seconds" "starts/s" "shims" "RSS KiB" "PSS KiB"
printf '%-28s %9s %9s %6s %12s %12s\n' "berth (runc)" "$berth_s" "$(rate "$N" "$berth_s")" "$bn" "$brss" "$bpss"
printf '%-28s %9s %9s %6s %12s %12s\n' "berth (crun, default)" "$berth_crun_s" "$(rate "$N" "$berth_crun_s")" "$bcn" "$bcrss" "$bcpss"
printf '%-28s %9s %9s %6s %12s %12s\n' "docker 20.10 (containerd)" "$docker_s" "$(rate "$N" "$docker_s")" "$dn" "$drss" "$dpss"
printf '%-28s %9s %9s %6s %12s %12s\n' "podman + crun (conmon)" "$podman_s" "$(rate "$N" "$podman_s")" "$pn" "$prss" "$ppss"
echo
echo "ratios (targets: berth rate >= 4x docker's with the default runtime, crun; shim RSS <= 1/3 containerd-shim's; shim PSS < 1024 KiB)"
echo "berth(crun, default) rate / docker = $(ratio "$docker_s" "$berth_crun_s")"
echo "berth(runc) rate / docker          = $(ratio "$docker_s" "$berth_s")"
echo "berth(crun) rate / podman rate     = $(ratio "$podman_s" "$berth_crun_s")"
echo "berth-shim RSS / containerd-shim RSS = $(ratio "$brss" "$drss")"
echo "berth-shim PSS / containerd-shim PSS = $(ratio "$bpss" "$dpss")"
echo "berth-shim RSS / conmon RSS = $(ratio "$brss" "$prss")"
