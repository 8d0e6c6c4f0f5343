#!/usr/bin/env bash
# `compose up -d` and `compose down` of a 10-service project (busybox sleepers, no ports; the project network
# is created and removed each round): berth compose on Berth against docker-compose 1.29 on docker 20.10 (and
# docker-compose on Berth, to separate the client from the engine), interleaved in one run. Prints medians
# and ratios. Usage: bench/compose.sh as root   (RUNS=N rounds, default 10)
source "$(dirname "$0")/lib.sh"
bench_install
dpkg -s docker-compose >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
busybox_tar
start_berth --bridge none
start_docker

PROJ=$BENCH_DIR/bench
mkdir -p "$PROJ"
{
	echo "services:"
	for i in $(seq 1 10); do
		printf '  s%d:\n    image: busybox:latest\n    command: ["sleep", "1000000"]\n    stop_signal: SIGKILL\n' "$i"
	done
} >"$PROJ/compose.yaml"

# ms CMD...: wall time of one command in milliseconds; its output goes to the bench log. A failed command is
# run once more and both attempts count (dockerd 20.10 sometimes refuses to remove a network whose last
# endpoint it has not released yet: "has active endpoints"); a second failure stops the run.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	if ! "$@" >>"$BENCH_DIR/compose.log" 2>&1; then
		echo "retry: $*" >>"$BENCH_DIR/retries"
		"$@" >>"$BENCH_DIR/compose.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$BENCH_DIR/compose.log" >&2; exit 1; }
	fi
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
median() { python3 -c 'import statistics,sys; print("%.1f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

berth_compose() { (cd "$PROJ" && "$BIN/berth" -H "unix://$BERTH_SOCK" compose "$@"); }
dc_docker() { (cd "$PROJ" && DOCKER_HOST="unix://$DOCKER_SOCK" docker-compose "$@"); }
dc_berth() { (cd "$PROJ" && DOCKER_HOST="unix://$BERTH_SOCK" docker-compose "$@"); }

# On any exit, take the project down on both engines first, so no project network (a bridge on the host)
# outlives the daemons.
compose_cleanup() {
	set +e
	berth_compose down >/dev/null 2>&1
	dc_docker down >/dev/null 2>&1 || dc_docker down >/dev/null 2>&1
	dc_berth down >/dev/null 2>&1
	cleanup
}
trap compose_cleanup EXIT

# One warm-up round each, then interleaved rounds.
for f in berth_compose dc_docker dc_berth; do ms $f up -d >/dev/null; ms $f down >/dev/null; done
bu=(); bd=(); du=(); dd=(); xu=(); xd=()
for _ in $(seq 1 "${RUNS:-10}"); do
	bu+=("$(ms berth_compose up -d)"); bd+=("$(ms berth_compose down)")
	du+=("$(ms dc_docker up -d)"); dd+=("$(ms dc_docker down)")
	xu+=("$(ms dc_berth up -d)"); xd+=("$(ms dc_berth down)")
done
berth_up=$(median "${bu[@]}"); berth_down=$(median "${bd[@]}")
docker_up=$(median "${du[@]}"); docker_down=$(median "${dd[@]}")
dcb_up=$(median "${xu[@]}"); dcb_down=$(median "${xd[@]}")

printf '%-46s %10s %10s\n' "10 services, median of ${RUNS:-10} rounds" "up -d ms" "down ms"
printf '%-46s %10s %10s\n' "berth compose on berth" "$berth_up" "$berth_down"
printf '%-46s %10s %10s\n' "docker-compose 1.29 on docker 20.10" "$docker_up" "$docker_down"
printf '%-46s %10s %10s\n' "docker-compose 1.29 on berth" "$dcb_up" "$dcb_down"
[ -f "$BENCH_DIR/retries" ] && echo "(retried after a failure: $(wc -l <"$BENCH_DIR/retries")x, see compose.log)"
echo
echo "ratios (target: berth / docker-compose on docker <= 0.33 for both)"
echo "up:   berth / docker = $(ratio "$berth_up" "$docker_up")"
echo "down: berth / docker = $(ratio "$berth_down" "$docker_down")"
