#!/usr/bin/env bash
# Swarm services: Berth's managers against Docker's (Debian's docker.io dockerd), side by side in one run, the
# same three-node cluster each (one manager, two workers: daemons in network namespaces on a private bridge, as
# the swarm e2e harness makes them), the same docker CLI and the same settings, ratios printed:
#   up      service create --replicas 20, until 20 tasks run
#   scale   service scale 20 -> 50, until 50 run
#   update  service update --image of the 50 tasks (--update-parallelism 5 --update-delay 0s), until all 50
#           running tasks run the new image
#   heal    5 task containers killed (restart delay 0s), until 50 tasks run again, none of them a killed one
# The first three are timed from the CLI call to the state seen through the manager's API (polled every 20 ms by
# one process over its socket, the same for both). Heal is timed as a crash happens: the poller, already polling,
# sends SIGKILL to the five containers' main processes itself (pids read before) and times from the first kill,
# so that no CLI process start (a constant both engines paid, 120-310 ms here) is in the figure. The tasks are
# busybox sleeping, with no network (--bridge none on every daemon, no published port) and --stop-signal KILL
# (sleep as PID 1 ignores SIGTERM: each update batch would otherwise wait the 10 s stop timeout on both), so
# what is measured is the control plane: orchestrator, scheduler, dispatcher, agents, container starts and stops.
# Usage: bench/swarm.sh as root   (ROUNDS=3 rounds, each engine in turn; median reported)
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
bench_install
busybox_tar
"$REPO/scripts/build.sh" "$BIN"

trap nodes_cleanup EXIT

# cli SOCK ARGS: the docker CLI against a node's daemon.
cli() { local s=$1; shift; DOCKER_HOST="unix://$s" DOCKER_CONFIG=$BENCH_DIR/docker-config "$DOCKER" "$@"; }

# add_node ENGINE N: node N (lib.sh's node_add), with busybox:v2 beside busybox:latest for the update.
add_node() {
	node_add "$1" "$2"
	nodecli "$2" tag busybox:latest busybox:v2
}

# cluster ENGINE FIRST: three nodes FIRST..FIRST+2, the first a manager; sets M (its socket) and W (the workers').
cluster() {
	local engine=$1 f=$2
	add_node "$engine" "$f"; add_node "$engine" $((f + 1)); add_node "$engine" $((f + 2))
	M=$BENCH_DIR/node$f.sock
	W=("$BENCH_DIR/node$((f + 1)).sock" "$BENCH_DIR/node$((f + 2)).sock")
	cli "$M" swarm init --advertise-addr "$NODES_PREFIX.$f" >/dev/null
	local tok
	tok=$(cli "$M" swarm join-token -q worker)
	for w in "${W[@]}"; do cli "$w" swarm join --token "$tok" "$NODES_PREFIX.$f:2377" >/dev/null; done
	# Both workers Ready, not only listed: a worker still joining gets no tasks (all would go to the manager).
	for _ in $(seq 1 300); do
		[ "$(cli "$M" node ls --filter role=worker --format '{{.Status}}' | grep -c Ready)" = 2 ] && break
		sleep 0.1
	done
}

# wait_tasks SOCK SERVICE N IMAGE [EXCLUDED TASK IDS...]: polls the manager's API until N tasks of SERVICE whose
# desired state is running run IMAGE and are running (none of the excluded); prints when, in ns since the epoch.
wait_tasks() {
	python3 - "$@" <<'EOF'
import http.client, json, socket, sys, time, urllib.parse
sock, svc, n, image, excluded = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], set(sys.argv[5:])
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)
q = urllib.parse.quote(json.dumps({"service": [svc], "desired-state": ["running"]}))
c = Conn("localhost")
deadline = time.time() + 600
while time.time() < deadline:
    c.request("GET", "/v1.41/tasks?filters=" + q)
    ts = json.loads(c.getresponse().read())
    ok = [t for t in ts if t["Status"]["State"] == "running" and t["ID"] not in excluded
          and t["Spec"]["ContainerSpec"]["Image"].split("@")[0] == image]
    if len(ok) >= n:
        print(time.time_ns())
        sys.exit(0)
    time.sleep(0.02)
sys.exit("timed out waiting for %d tasks of %s" % (n, svc))
EOF
}
# heal_tasks SOCK SERVICE N IMAGE PIDS EXCLUDED...: one process that polls the manager's API as wait_tasks does,
# and once it has seen N tasks running (so that it is polling, its connection open), sends SIGKILL to each of the
# comma-separated PIDS (each checked to be a task's `sleep`) and polls on until N tasks run again, none of the
# excluded; prints the time of the first kill and the time it saw that, in ns since the epoch.
heal_tasks() {
	python3 - "$@" <<'EOF'
import calendar, http.client, json, os, signal, socket, sys, time, urllib.parse
sock, svc, n, image, excluded = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], set(sys.argv[6:])
pids = [int(p) for p in sys.argv[5].split(",")]
for p in pids:
    with open("/proc/%d/cmdline" % p, "rb") as f:
        argv = f.read().split(b"\0")
    if argv[0] != b"sleep":
        sys.exit("pid %d is %r, not a task's sleep" % (p, argv))
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)
q = urllib.parse.quote(json.dumps({"service": [svc], "desired-state": ["running"]}))
c = Conn("localhost")
def running(skip):
    c.request("GET", "/v1.41/tasks?filters=" + q)
    ts = json.loads(c.getresponse().read())
    return len([t for t in ts if t["Status"]["State"] == "running" and t["ID"] not in skip
                and t["Spec"]["ContainerSpec"]["Image"].split("@")[0] == image])
def stamp(v):
    # RFC 3339 with nanoseconds, in UTC (both engines write Z), to ns since the epoch.
    d, _, frac = v.rstrip("Z").partition(".")
    return (calendar.timegm(time.strptime(d, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int((frac + "000000000")[:9]))
def trace(t0, t1):
    # Where the interval went, from the stamps the engine's own components wrote: the killed tasks' FAILED (the
    # node saw the exit), the replacements' creation (the orchestrator) and RUNNING (the node started them).
    if not os.environ.get("HEAL_TRACE"):
        return
    c.request("GET", "/v1.41/tasks?filters=" + urllib.parse.quote(json.dumps({"service": [svc]})))
    ts = json.loads(c.getresponse().read())
    ms = lambda v: "%d" % ((v - t0) // 10**6)
    failed = [stamp(t["Status"]["Timestamp"]) for t in ts if t["ID"] in excluded]
    slots = {t["Slot"] for t in ts if t["ID"] in excluded}
    repl = [t for t in ts if t["Slot"] in slots and t["ID"] not in excluded and t["DesiredState"] == "running"]
    created = [stamp(t["CreatedAt"]) for t in repl]
    run = [stamp(t["Status"]["Timestamp"]) for t in repl if t["Status"]["State"] == "running"]
    with open(os.environ["HEAL_TRACE"], "a") as f:
        f.write("failed %s-%s created %s-%s running %s-%s seen %s\n" % (ms(min(failed)), ms(max(failed)),
                ms(min(created)), ms(max(created)), ms(min(run)), ms(max(run)), ms(t1)))
t0 = None
deadline = time.time() + 600
while time.time() < deadline:
    if t0 is None:
        if running(set()) >= n:
            t0 = time.time_ns()
            for p in pids:
                os.kill(p, signal.SIGKILL)
    elif running(excluded) >= n:
        t1 = time.time_ns()
        print(t0, t1)
        trace(t0, t1)
        sys.exit(0)
    time.sleep(0.02)
sys.exit("timed out waiting for %d tasks of %s" % (n, svc))
EOF
}
since_ms() { echo $(( ($2 - $1) / 1000000 )); }

# scenario ENGINE: the four measurements on the cluster of M and W, appended to $BENCH_DIR/samples/ENGINE-*.
scenario() {
	local e=$1 t0 t1 svc=bench$RANDOM
	mkdir -p "$BENCH_DIR/samples"
	t0=$(date +%s%N)
	cli "$M" service create -d -q --no-resolve-image --name "$svc" --replicas 20 --restart-delay 0s \
		--update-parallelism 5 --update-delay 0s --stop-signal KILL busybox:latest sleep 3600 >/dev/null
	t1=$(wait_tasks "$M" "$svc" 20 busybox:latest)
	since_ms "$t0" "$t1" >>"$BENCH_DIR/samples/$e-up"
	t0=$(date +%s%N)
	cli "$M" service scale -d "$svc=50" >/dev/null
	t1=$(wait_tasks "$M" "$svc" 50 busybox:latest)
	since_ms "$t0" "$t1" >>"$BENCH_DIR/samples/$e-scale"
	t0=$(date +%s%N)
	cli "$M" service update -d -q --no-resolve-image --image busybox:v2 "$svc" >/dev/null
	t1=$(wait_tasks "$M" "$svc" 50 busybox:v2)
	since_ms "$t0" "$t1" >>"$BENCH_DIR/samples/$e-update"
	# Five task containers on the workers, killed as a crash kills them: SIGKILL to each one's main process, whose
	# pid is read before the timer starts (host pids: the nodes' daemons share the host's pid namespace, checked
	# in add_node). The poller is already polling when it sends the kills and takes its t0 just before the first.
	local victims=() tasks=() pids=() c
	for w in "${W[@]}"; do
		for c in $(cli "$w" ps -q --filter "label=com.docker.swarm.service.name=$svc" | head -3); do victims+=("$w $c"); done
	done
	victims=("${victims[@]:0:5}")
	for v in "${victims[@]}"; do
		set -- $v
		tasks+=("$(cli "$1" inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$2")")
		pids+=("$(cli "$1" inspect -f '{{.State.Pid}}' "$2")")
	done
	local t
	t=$(HEAL_TRACE=$BENCH_DIR/samples/$e-heal-trace heal_tasks "$M" "$svc" 50 busybox:v2 "$(IFS=,; echo "${pids[*]}")" "${tasks[@]}")
	since_ms $t >>"$BENCH_DIR/samples/$e-heal"
	cli "$M" service rm "$svc" >/dev/null
	for w in "${W[@]}" "$M"; do
		for _ in $(seq 1 300); do [ -z "$(cli "$w" ps -aq --filter "label=com.docker.swarm.service.name=$svc")" ] && break; sleep 0.1; done
	done
}

nodes_net bsw 252
cluster berth 11; BM=$M; BW=("${W[@]}")
cluster docker 21; DM=$M; DW=("${W[@]}")
for _ in $(seq 1 "$ROUNDS"); do
	M=$BM; W=("${BW[@]}"); scenario berth
	M=$DM; W=("${DW[@]}"); scenario docker
done

med() { sort -n "$BENCH_DIR/samples/$1" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
echo "Swarm services on three nodes (1 manager, 2 workers each), median of $ROUNDS rounds, ms"
printf '%-52s %8s %8s %8s\n' "operation" "berth" "docker" "speedup"
for op in up scale update heal; do
	case $op in
	up) what="service create --replicas 20, until 20 run" ;;
	scale) what="service scale 20 -> 50, until 50 run" ;;
	update) what="service update --image, 50 tasks, parallelism 5" ;;
	heal) what="5 task containers killed, until 50 run again" ;;
	esac
	b=$(med "berth-$op"); d=$(med "docker-$op")
	printf '%-52s %8s %8s %8s\n' "$what" "$b" "$d" "$(ratio "$d" "$b")"
done
echo "heal, ms after the first kill (per round: the killed tasks' FAILED, the replacements' creation and RUNNING as"
echo "the engine stamped them, first-last; when the poller saw 50 run):"
for e in berth docker; do sed "s/^/  $e: /" "$BENCH_DIR/samples/$e-heal-trace"; done
for op in up scale update heal; do
	echo "rounds $op: berth $(tr '\n' ' ' <"$BENCH_DIR/samples/berth-$op")| docker $(tr '\n' ' ' <"$BENCH_DIR/samples/docker-$op")"
done
