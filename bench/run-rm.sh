#!/usr/bin/env bash
# `run --rm busybox true`: Berth (runc and crun) against docker (--network none), podman+crun, a plain
# `crun run` of a bundle and unshare+chroot, side by side in one run. Prints medians and ratios.
# Usage: bench/run-rm.sh as root   (RUNS=N runs per engine, default 30, in ROUNDS=5 interleaved rounds)
source "$(dirname "$0")/lib.sh"
bench_install
busybox_tar
start_berth --bridge none
start_docker
start_podman
crun_bundle

# ROUNDS rounds of RUNS/ROUNDS runs per engine, interleaved: the VM's slow spells hit every engine alike.
ROUNDS=${ROUNDS:-5}
per=$(( (${RUNS:-30} + ROUNDS - 1) / ROUNDS ))
in_ns() { in_crun_ns bash -c "$(declare -f sample_ms); BENCH_DIR=$BENCH_DIR; $1"; }
for _ in $(seq "$ROUNDS"); do
	sample_ms berth_runc "$per" "$BIN/berth -H unix://$BERTH_SOCK run --rm --network none --runtime runc busybox true"
	sample_ms berth_crun "$per" "$BIN/berth -H unix://$BERTH_SOCK run --rm --network none --runtime crun busybox true"
	sample_ms docker "$per" "env DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker run --rm --network none busybox true"
	in_ns "sample_ms podman $per \"env CONTAINERS_CONF=$BENCH_DIR/containers.conf podman --root $BENCH_DIR/podman --runroot $RUN_DIR/podman --runtime crun --cgroup-manager cgroupfs --events-backend none run --rm --network none busybox true\""
	in_ns "cd $BENCH_DIR/bundle && sample_ms crun $per 'crun --root $RUN_DIR/crun run bench-crun'"
	(cd "$BENCH_DIR/bundle" && sample_ms runc "$per" "runc --root $RUN_DIR/runc run bench-runc")
	sample_ms chroot "$per" "unshare --fork --pid --mount --uts --ipc --net chroot $BENCH_DIR/rootfs /bin/true"
done
berth_runc=$(median_of berth_runc)
berth_crun=$(median_of berth_crun)
docker_none=$(median_of docker)
podman=$(median_of podman)
crun=$(median_of crun)
runc=$(median_of runc)
chroot_ms=$(median_of chroot)

printf '%-44s %10s\n' "run --rm busybox true (median)" "ms"
printf '%-44s %10s\n' "berth (runc) --network none" "$berth_runc"
printf '%-44s %10s\n' "berth (crun, default) --network none" "$berth_crun"
printf '%-44s %10s\n' "docker 20.10 --network none" "$docker_none"
printf '%-44s %10s\n' "podman + crun --network none" "$podman"
printf '%-44s %10s\n' "plain crun run of a bundle" "$crun"
printf '%-44s %10s\n' "plain runc run of a bundle" "$runc"
printf '%-44s %10s\n' "unshare + chroot" "$chroot_ms"
echo
echo "ratios (targets with the default runtime, crun: docker/berth >= 5, berth/crun <= 4)"
echo "docker / berth(crun)  = $(ratio "$docker_none" "$berth_crun")"
echo "berth(crun) / crun    = $(ratio "$berth_crun" "$crun")"
echo "podman / berth(crun)  = $(ratio "$podman" "$berth_crun")"
echo "docker / berth(runc)  = $(ratio "$docker_none" "$berth_runc")"
echo "berth(runc) / runc    = $(ratio "$berth_runc" "$runc")"
