#!/usr/bin/env bash
# `run --rm busybox true`: Berth (runc and crun) against docker (--network none), podman+crun, a plain
# `crun run` of a bundle and unshare+chroot, side by side in one run. Prints medians and ratios.
# Usage: bench/run-rm.sh as root   (RUNS=N to change the number of runs, default 30)
source "$(dirname "$0")/lib.sh"
bench_install
busybox_tar
start_berth --bridge none
start_docker
start_podman
crun_bundle

berth_runc=$(median_ms "$BIN/berth -H unix://$BERTH_SOCK run --rm --network none busybox true")
berth_crun=$(median_ms "$BIN/berth -H unix://$BERTH_SOCK run --rm --network none --runtime crun busybox true")
docker_none=$(median_ms "env DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker run --rm --network none busybox true")
podman=$(in_crun_ns bash -c "$(declare -f median_ms medians_ms podman_cli); BENCH_DIR=$BENCH_DIR RUNS=${RUNS:-30}; median_ms \"env CONTAINERS_CONF=$BENCH_DIR/containers.conf podman --root $BENCH_DIR/podman --runroot $BENCH_DIR/podman-run --runtime crun --cgroup-manager cgroupfs --events-backend none run --rm --network none busybox true\"")
crun=$(in_crun_ns bash -c "$(declare -f median_ms medians_ms); BENCH_DIR=$BENCH_DIR RUNS=${RUNS:-30}; cd $BENCH_DIR/bundle; median_ms 'crun --root $BENCH_DIR/crun-state run bench-crun'")
runc=$(cd "$BENCH_DIR/bundle" && median_ms "runc --root $BENCH_DIR/runc-state run bench-runc")
chroot_ms=$(median_ms "unshare --fork --pid --mount --uts --ipc --net chroot $BENCH_DIR/rootfs /bin/true")

printf '%-44s %10s\n' "run --rm busybox true (median)" "ms"
printf '%-44s %10s\n' "berth (runc) --network none" "$berth_runc"
printf '%-44s %10s\n' "berth (crun) --network none" "$berth_crun"
printf '%-44s %10s\n' "docker 20.10 --network none" "$docker_none"
printf '%-44s %10s\n' "podman + crun --network none" "$podman"
printf '%-44s %10s\n' "plain crun run of a bundle" "$crun"
printf '%-44s %10s\n' "plain runc run of a bundle" "$runc"
printf '%-44s %10s\n' "unshare + chroot" "$chroot_ms"
echo
echo "ratios (target: docker/berth >= 5, berth/crun <= 4)"
echo "docker / berth(runc)  = $(ratio "$docker_none" "$berth_runc")"
echo "docker / berth(crun)  = $(ratio "$docker_none" "$berth_crun")"
echo "podman / berth(runc)  = $(ratio "$podman" "$berth_runc")"
echo "berth(runc) / crun    = $(ratio "$berth_runc" "$crun")"
echo "berth(crun) / crun    = $(ratio "$berth_crun" "$crun")"
echo "berth(runc) / runc    = $(ratio "$berth_runc" "$runc")"
