#!/usr/bin/env bash
# Swarm at scale (issue 12): one real manager (a Cluster on its embedded etcd, with its leader's orchestrator,
# scheduler and dispatcher) and NODES simulated nodes — each a real agent over a fake engine that starts
# containers at once, holding its session with the leader's dispatcher in-process and heartbeating — in one
# process (internal/cluster TestSwarmScale, which runs only with BERTH_SWARM_SCALE=1). Prints:
#   - TASKS tasks in SERVICES replicated services, from the first service create to every task reported
#     RUNNING by its agent: tasks placed and acknowledged per second;
#   - the CPU-seconds the process used in each phase (the rates move with the VM's load, the CPU a phase takes
#     much less: compare those across runs on a shared VM);
#   - the process's RSS (nodes idle, peak while placing, after) and the Go heap; the agents live in the same
#     process, so the figures are the manager's and the simulated nodes' together;
#   - LOST nodes going silent (their agents and heartbeats stop): when the leader marks them down (3 heartbeat
#     periods) and when their tasks run again on the other nodes (after the services' restart delay).
# Root is not needed. Knobs (environment): NODES=10000 TASKS=100000 SERVICES=10 LOST=1000 HEARTBEAT=5s
# RESTART_DELAY=5s (docker's default) TIMEOUT=15m PROFILE=DIR (CPU profiles of placing and of rescheduling,
# the heap with every task running: go tool pprof DIR/cpu-place.pprof; the manager's log at info level).
# Usage: bench/swarm-scale.sh            e.g. NODES=2000 TASKS=20000 LOST=200 bench/swarm-scale.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/usr/local/go/bin:$PATH
export BERTH_SWARM_SCALE=1
export BERTH_SCALE_NODES=${NODES:-10000} BERTH_SCALE_TASKS=${TASKS:-100000} BERTH_SCALE_SERVICES=${SERVICES:-10}
export BERTH_SCALE_LOST=${LOST:-1000} BERTH_SCALE_HEARTBEAT=${HEARTBEAT:-5s}
export BERTH_SCALE_RESTART_DELAY=${RESTART_DELAY:-5s} BERTH_SCALE_TIMEOUT=${TIMEOUT:-15m}
args=(-count=1 -run '^TestSwarmScale$' -v -timeout 0)
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	export BERTH_SCALE_PROFILE=$PROFILE
	args+=(-o "$PROFILE/cluster.test")
	export BERTH_SCALE_LOG=$PROFILE/manager.log
fi
cd "$REPO"
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
go test "${args[@]}" ./internal/cluster/ 2>&1 | grep --line-buffered -v '^=== RUN\|^--- PASS\|^PASS$\|^ok '
