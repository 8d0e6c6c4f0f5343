#!/usr/bin/env bash
# S3 object storage: `berth s3 serve` side by side with a reference S3 server, SeaweedFS (`weed server -s3`, built
# here from source through the Go module proxy), both on 127.0.0.1 with private data directories on the same
# filesystem, both syncing every acknowledged write (SeaweedFS through a filer storage rule `fsync` on /buckets/,
# which makes its volume server fsync the data and its filer store write the entry with Sync), driven by the same
# load generator (bench/internal/s3load: N concurrent SDK clients, fixed object size, a PUT phase then a GET phase,
# per-operation latency percentiles, as minio's warp does; warp itself is not served by the module proxy).
#
# Measured in one run, ROUNDS rounds interleaving the two servers (the first side alternates, dirty pages are
# flushed before each phase), medians printed with the berth/reference ratios:
#   - the disk's synced write speed: dd of 1 GiB with conv=fsync, once per round, in the same directory;
#   - 64 MiB objects: PUT then GET throughput, BIG_CLIENTS concurrent clients, DURATION per phase;
#   - 4 KiB objects: PUT then GET operations per second, SMALL_CLIENTS concurrent clients, DURATION per phase;
#   - LIST: KEYS empty objects spread over 10 prefixes, then the time to list one prefix (KEYS/10 keys) and the
#     whole bucket with ListObjectsV2 (1,000 keys a page);
#   - memory: RSS of each server at rest (started, one bucket), its peak during the load phases (sampled every
#     0.2 s), and at rest again after the load.
# Usage: bench/s3.sh as root (ROUNDS=3 DURATION=10s BIG_CLIENTS=4 SMALL_CLIENTS=8 KEYS=100000; ONLY=big runs the
# dd and the 64 MiB phases alone, to work on the large PUT)
# The reference is built once into $BERTH_BENCH_CACHE (default /var/cache/berth-bench), outside the repository.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
BIG_CLIENTS=${BIG_CLIENTS:-4}
SMALL_CLIENTS=${SMALL_CLIENTS:-8}
KEYS=${KEYS:-100000}
ONLY=${ONLY:-}
CACHE=${BERTH_BENCH_CACHE:-/var/cache/berth-bench}
# The SeaweedFS commit the figures in docs/benchmarks.md were measured with (the module proxy has no tagged
# release of the current module path: a pseudo-version of its main branch).
WEED_VERSION=${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
export PATH=/usr/local/go/bin:$PATH

AK=AKIABERTHBENCH000001
SK=berthbenchsecretkey000000000000000000001

# --- builds ---------------------------------------------------------------------------------------------------
mkdir -p "$BIN" "$CACHE/bin"
"$REPO/scripts/build.sh" "$BIN"   # berth, and berthd next to it (berth s3 serve runs it)
(cd "$REPO" && go build -o "$BIN/s3load" ./bench/internal/s3load)
WEED=$CACHE/bin/weed-$WEED_VERSION
if [ ! -x "$WEED" ]; then
	# `go install` refuses modules with replace directives (SeaweedFS has one), so build inside the downloaded
	# module, read-only in the module cache, writing the binary to the cache directory.
	echo "building SeaweedFS $WEED_VERSION into $WEED (once; several minutes)"
	dir=$(cd "$BENCH_DIR" && go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	(cd "$dir" && go build -trimpath -ldflags='-s -w' -o "$WEED.tmp" ./weed)
	mv "$WEED.tmp" "$WEED"
fi

# --- servers --------------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "$1 did not answer" >&2; return 1; }

BERTH_PORT=$(free_port)
BERTH_ROOT_ACCESS_KEY_ID=$AK BERTH_ROOT_SECRET_ACCESS_KEY=$SK \
	"$BIN/berth" s3 serve --addr "127.0.0.1:$BERTH_PORT" --data-dir "$BENCH_DIR/berth" >"$BENCH_DIR/berth.log" 2>&1 &
BERTH_PID=$!
PIDS+=("$BERTH_PID")

# SeaweedFS needs a port per component (and gRPC ports): pick them all free.
WP_S3=$(free_port); WP_M=$(free_port); WP_MG=$(free_port); WP_V=$(free_port); WP_VG=$(free_port)
WP_F=$(free_port); WP_FG=$(free_port); WP_S3G=$(free_port); WP_MQ=$(free_port); WP_MQA=$(free_port)
mkdir -p "$BENCH_DIR/weed"
cat >"$BENCH_DIR/weed-s3.json" <<EOF
{"identities": [{"name": "bench", "credentials": [{"accessKey": "$AK", "secretKey": "$SK"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
"$WEED" server -dir="$BENCH_DIR/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -filer -s3 \
	-master.port="$WP_M" -master.port.grpc="$WP_MG" -volume.port="$WP_V" -volume.port.grpc="$WP_VG" \
	-filer.port="$WP_F" -filer.port.grpc="$WP_FG" -s3.port="$WP_S3" -s3.port.grpc="$WP_S3G" \
	-s3.port.iceberg=0 -s3.port.lance=0 -mq.broker.port="$WP_MQ" -mq.agent.port="$WP_MQA" \
	-s3.config="$BENCH_DIR/weed-s3.json" -volume.max=8 -volume.preStopSeconds=0 \
	>"$BENCH_DIR/weed.log" 2>&1 &
WEED_PID=$!
PIDS+=("$WEED_PID")
wait_http "http://127.0.0.1:$BERTH_PORT/"
wait_http "http://127.0.0.1:$WP_S3/"
# Durability like Berth's: every write under /buckets/ (where the S3 gateway keeps objects) is fsynced by the volume
# server (batched across concurrent requests, as Berth groups its commits) and its filer entry written with Sync.
for _ in $(seq 1 60); do
	out=$(echo "fs.configure -locationPrefix=/buckets/ -fsync=true -apply" |
		"$WEED" shell -master="127.0.0.1:$WP_M.$WP_MG" -filer="127.0.0.1:$WP_F.$WP_FG" 2>&1) &&
		grep -q '"fsync": *true' <<<"$out" && break
	sleep 1
done
grep -q '"fsync": *true' <<<"$out" || { echo "could not configure SeaweedFS's fsync rule:" >&2; echo "$out" >&2; exit 1; }

declare -A PORT=([berth]=$BERTH_PORT [ref]=$WP_S3) SPID=([berth]=$BERTH_PID [ref]=$WEED_PID)
load() { # load SIDE ARGS...: run the load generator against one side
	local side=$1
	shift
	"$BIN/s3load" -endpoint "http://127.0.0.1:${PORT[$side]}" -access-key "$AK" -secret-key "$SK" "$@"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
field() { python3 -c 'import json,sys; print("%.1f" % json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$0} {hi=$0} END {print lo "-" hi}'; }

# sampled SIDE CMD...: run CMD with its output in $BENCH_DIR/out, sampling SIDE's RSS every 0.2 s meanwhile into
# $BENCH_DIR/rss-SIDE (the peak under load is the largest sample).
sampled() {
	local side=$1 sp rc=0
	shift
	(while kill -0 "${SPID[$side]}" 2>/dev/null; do rss_kib "${SPID[$side]}" >>"$BENCH_DIR/rss-$side"; sleep 0.2; done) &
	sp=$!
	"$@" >"$BENCH_DIR/out" || rc=$?
	kill "$sp"
	wait "$sp" 2>/dev/null || true
	[ $rc = 0 ] || { echo "failed: $*" >&2; cat "$BENCH_DIR/out" >&2; }
	return $rc
}
line() { sed -n "$1p" "$BENCH_DIR/out"; }

for side in berth ref; do
	load "$side" -op fill -bucket bench -keys 0 >/dev/null # creates the bucket
done
sleep 2
declare -A rest0=([berth]=$(rss_kib "$BERTH_PID") [ref]=$(rss_kib "$WEED_PID"))

# --- rounds ---------------------------------------------------------------------------------------------------
declare -A bigput bigget smallput smallget smallputp99 smallgetp99 bigdd
dd_mbs=()
loads=()
for round in $(seq 1 "$ROUNDS"); do
	sync
	out=$(dd if=/dev/zero of="$BENCH_DIR/dd.bin" bs=1M count=1024 conv=fsync 2>&1 | tail -1)
	rm -f "$BENCH_DIR/dd.bin"
	# "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 3.6 s, 298 MB/s": recompute in MiB/s from the seconds.
	s=$(sed -E 's/.* copied, ([0-9.]+) s.*/\1/' <<<"$out")
	dd_mbs+=("$(python3 -c "print('%.1f' % (1024 / float('$s')))")")
	sides="berth ref"
	[ $((round % 2)) = 0 ] && sides="ref berth"
	for side in $sides; do
		sync
		sampled "$side" load "$side" -bucket bench -prefix "big$round" -size $((64 << 20)) -clients "$BIG_CLIENTS" \
			-duration "$DURATION" -cleanup
		bigput[$side]+="$(field "$(line 1)" mib_per_s) "
		bigdd[$side]+="$(ratio "$(field "$(line 1)" mib_per_s)" "${dd_mbs[-1]}") "
		bigget[$side]+="$(field "$(line 2)" mib_per_s) "
		[ "$ONLY" = big ] && continue
		sync
		sampled "$side" load "$side" -bucket bench -prefix "small$round" -size 4096 -clients "$SMALL_CLIENTS" \
			-duration "$DURATION" -cleanup
		smallput[$side]+="$(field "$(line 1)" ops_per_s) "
		smallget[$side]+="$(field "$(line 2)" ops_per_s) "
		smallputp99[$side]+="$(field "$(line 1)" p99_ms) "
		smallgetp99[$side]+="$(field "$(line 2)" p99_ms) "
	done
	# The machine may be shared: each round says how busy it was.
	loads+=("$(cut -d' ' -f1 /proc/loadavg)")
	echo "round $round (load average ${loads[-1]}): dd ${dd_mbs[-1]} MiB/s; 64 MiB PUT berth ${bigput[berth]}/ ref ${bigput[ref]}MiB/s;" \
		"GET berth ${bigget[berth]}/ ref ${bigget[ref]}MiB/s; 4 KiB PUT berth ${smallput[berth]:-}/ ref ${smallput[ref]:-}ops/s;" \
		"GET berth ${smallget[berth]:-}/ ref ${smallget[ref]:-}ops/s"
done

# --- LIST among KEYS keys -------------------------------------------------------------------------------------
declare -A fillrate listp listall
[ "$ONLY" = big ] && KEYS=0
for side in berth ref; do
	[ "$KEYS" = 0 ] && break
	sampled "$side" load "$side" -op fill -bucket listing -prefix k -keys "$KEYS" -groups 10 -clients "$SMALL_CLIENTS"
	fillrate[$side]=$(field "$(line 1)" ops_per_s)
done
for side in berth ref; do
	[ "$KEYS" = 0 ] && break
	res=$(load "$side" -op list -bucket listing -prefix k/g05/ -repeat 5)
	[ "$(field "$res" size)" = "$(python3 -c "print('%.1f' % ($KEYS // 10))")" ] || { echo "$side listed $(field "$res" size) keys under k/g05/" >&2; exit 1; }
	listp[$side]=$(field "$res" p50_ms)
	res=$(load "$side" -op list -bucket listing -prefix k/ -repeat 3)
	[ "$(field "$res" size)" = "$KEYS.0" ] || { echo "$side listed $(field "$res" size) keys under k/" >&2; exit 1; }
	listall[$side]=$(field "$res" p50_ms)
done
sleep 5
declare -A rest1=([berth]=$(rss_kib "$BERTH_PID") [ref]=$(rss_kib "$WEED_PID"))
declare -A peak=([berth]=$(sort -n "$BENCH_DIR/rss-berth" | tail -1) [ref]=$(sort -n "$BENCH_DIR/rss-ref" | tail -1))

# --- report ---------------------------------------------------------------------------------------------------
# shellcheck disable=SC2086
{
	ddm=$(median "${dd_mbs[@]}")
	bp=$(median ${bigput[berth]}); rp=$(median ${bigput[ref]}); bg=$(median ${bigget[berth]}); rg=$(median ${bigget[ref]})
	sp=$(median ${smallput[berth]:-}); rsp=$(median ${smallput[ref]:-}); sg=$(median ${smallget[berth]:-}); rsg=$(median ${smallget[ref]:-})
	mib() { python3 -c "print('%.1f' % (int('$1') / 1024))"; }
	echo
	echo "berth s3 serve vs SeaweedFS $WEED_VERSION (weed server -s3, fsync rule on /buckets/), median of $ROUNDS rounds, $DURATION per phase"
	echo "disk: dd 1 GiB conv=fsync $ddm MiB/s (rounds: ${dd_mbs[*]}); 1-minute load average at the end of each round: ${loads[*]}"
	printf '%-34s %12s %12s %8s  %s\n' "" berth reference ratio "rounds berth | reference"
	printf '%-34s %12s %12s %8s  %s\n' "64 MiB PUT MiB/s ($BIG_CLIENTS clients)" "$bp" "$rp" "$(ratio "$bp" "$rp")" "${bigput[berth]}| ${bigput[ref]}"
	printf '%-34s %12s %12s %8s  %s\n' "64 MiB PUT / dd of the same round" "$(median ${bigdd[berth]})" "$(median ${bigdd[ref]})" "" "${bigdd[berth]}| ${bigdd[ref]}"
	printf '%-34s %12s %12s %8s  %s\n' "64 MiB GET MiB/s ($BIG_CLIENTS clients)" "$bg" "$rg" "$(ratio "$bg" "$rg")" "${bigget[berth]}| ${bigget[ref]}"
	if [ "$ONLY" != big ]; then
	printf '%-34s %12s %12s %8s  %s\n' "4 KiB PUT ops/s ($SMALL_CLIENTS clients)" "$sp" "$rsp" "$(ratio "$sp" "$rsp")" "${smallput[berth]:-}| ${smallput[ref]:-}"
	printf '%-34s %12s %12s %8s  %s\n' "4 KiB PUT p99 ms" "$(median ${smallputp99[berth]:-})" "$(median ${smallputp99[ref]:-})" "" ""
	printf '%-34s %12s %12s %8s  %s\n' "4 KiB GET ops/s ($SMALL_CLIENTS clients)" "$sg" "$rsg" "$(ratio "$sg" "$rsg")" "${smallget[berth]:-}| ${smallget[ref]:-}"
	printf '%-34s %12s %12s %8s  %s\n' "4 KiB GET p99 ms" "$(median ${smallgetp99[berth]:-})" "$(median ${smallgetp99[ref]:-})" "" ""
	printf '%-34s %12s %12s %8s\n' "fill: empty PUTs/s ($SMALL_CLIENTS clients)" "${fillrate[berth]}" "${fillrate[ref]}" "$(ratio "${fillrate[berth]}" "${fillrate[ref]}")"
	printf '%-34s %12s %12s %8s\n' "LIST $((KEYS / 10)) keys of $KEYS, ms" "${listp[berth]}" "${listp[ref]}" "$(ratio "${listp[berth]}" "${listp[ref]}")"
	printf '%-34s %12s %12s %8s\n' "LIST all $KEYS keys, ms" "${listall[berth]}" "${listall[ref]}" "$(ratio "${listall[berth]}" "${listall[ref]}")"
	fi
	printf '%-34s %12s %12s %8s\n' "RSS at rest, MiB" "$(mib "${rest0[berth]}")" "$(mib "${rest0[ref]}")" "$(ratio "${rest0[berth]}" "${rest0[ref]}")"
	printf '%-34s %12s %12s %8s\n' "RSS peak under load, MiB" "$(mib "${peak[berth]}")" "$(mib "${peak[ref]}")" "$(ratio "${peak[berth]}" "${peak[ref]}")"
	printf '%-34s %12s %12s %8s\n' "RSS at rest after load, MiB" "$(mib "${rest1[berth]}")" "$(mib "${rest1[ref]}")" "$(ratio "${rest1[berth]}" "${rest1[ref]}")"
}
