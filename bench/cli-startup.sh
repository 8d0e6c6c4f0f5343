#!/usr/bin/env bash
# CLI start-up before and after a change, side by side in one run: the berth binary of BEFORE (a git ref,
# default ac25696: the last commit where berth linked the daemon, the registry and compose-go) against the
# working tree's, both talking to one daemon (the working tree's berthd) with private state. Prints the median
# wall time of each command and its CPU time (user + system: less sensitive than wall time to what else this
# shared VM runs), the binaries' sizes, the packages each links and their initialisation time.
# Usage: bench/cli-startup.sh [BEFORE]  as root   (RUNS=N runs per command, default 200, in ROUNDS=4
# interleaved rounds)
source "$(dirname "$0")/lib.sh"
BEFORE=${1:-ac25696}

need=()
for pkg in hyperfine busybox-static runc; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=/usr/local/go/bin:$PATH

# The before tree, exported from git (no checkout of the repository changes), built as scripts/build.sh builds.
mkdir -p "$BENCH_DIR/before-src" "$BENCH_DIR/before"
git -C "$REPO" archive "$BEFORE" | tar -x -C "$BENCH_DIR/before-src"
(cd "$BENCH_DIR/before-src" && go build -trimpath -ldflags='-s -w' -o "$BENCH_DIR/before/berth" ./cmd/berth)
OLD=$BENCH_DIR/before/berth
NEW=$BIN/berth
busybox_tar
start_berth --bridge none # builds the working tree's binaries into $BIN
H=unix://$BERTH_SOCK

# sample NAME RUNS CMD: hyperfine RUNS runs of CMD (after 3 warm-ups); wall times in ms go to samples/NAME (as
# lib.sh's sample_ms), the runs' mean user + system time in ms to cpu/NAME.
sample() {
	local out=$BENCH_DIR/hf-$1.json
	mkdir -p "$BENCH_DIR/samples" "$BENCH_DIR/cpu"
	if ! hyperfine -N -w 3 -r "$2" --export-json "$out" "$3" >"$BENCH_DIR/hf.log" 2>&1; then
		echo "benchmark failed: $3" >&2
		tail -5 "$BENCH_DIR/hf.log" >&2
		return 1
	fi
	python3 - "$out" "$BENCH_DIR/samples/$1" "$BENCH_DIR/cpu/$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
open(sys.argv[2], "a").write("".join("%.3f\n" % (t * 1000) for t in r["times"]))
open(sys.argv[3], "a").write("%.3f\n" % ((r["user"] + r["system"]) * 1000))
PY
}

ROUNDS=${ROUNDS:-4}
per=$(( (${RUNS:-200} + ROUNDS - 1) / ROUNDS ))
fmt='{{.Server.Version}}'
for r in $(seq "$ROUNDS"); do
	# Alternate which binary goes first, so neither always runs right after the other's warm-up.
	for which in $( ((r % 2)) && echo "old new" || echo "new old"); do
		b=$OLD; [ "$which" = new ] && b=$NEW
		sample "$which-v" "$per" "$b --version"
		sample "$which-version" "$per" "$b -H $H version --format $fmt"
		sample "$which-ps" "$per" "$b -H $H ps -q"
		sample "$which-compose" "$per" "$b -H $H compose version --short"
	done
done
med() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(float(l) for l in open(sys.argv[1])))' "$BENCH_DIR/samples/$1"; }
cpu() { python3 -c 'import statistics,sys; print("%.2f" % statistics.mean(float(l) for l in open(sys.argv[1])))' "$BENCH_DIR/cpu/$1"; }
# The sum of package initialisation (GODEBUG=inittrace=1: "init PKG @T ms, N ms clock, ..."), median of 20.
init_ms() {
	for _ in $(seq 20); do
		GODEBUG=inittrace=1 "$1" --version 2>&1 >/dev/null | awk '$1 == "init" {s += $5} END {printf "%.3f\n", s}'
	done | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

printf '%-46s %9s %9s %7s %9s %9s %7s\n' "ms ($((per * ROUNDS)) runs each)" "wall" "" "" "cpu" "" ""
printf '%-46s %9s %9s %7s %9s %9s %7s\n' "" "before" "after" "ratio" "before" "after" "ratio"
for c in v version ps compose; do
	case $c in
	v) label="berth --version (no daemon)" ;;
	version) label="berth version --format '$fmt'" ;;
	ps) label="berth ps -q (no containers)" ;;
	compose) label="berth compose version --short" ;;
	esac
	o=$(med "old-$c"); n=$(med "new-$c"); oc=$(cpu "old-$c"); nc=$(cpu "new-$c")
	printf '%-46s %9s %9s %7s %9s %9s %7s\n' "$label" "$o" "$n" "$(ratio "$n" "$o")" "$oc" "$nc" "$(ratio "$nc" "$oc")"
done
printf '%-46s %9s %9s\n' "package initialisation (berth --version)" "$(init_ms "$OLD")" "$(init_ms "$NEW")"
echo
size() { stat -c %s "$1"; }
deps() { (cd "$1" && go list -deps "./cmd/$2" | wc -l); }
printf '%-46s %12s %12s\n' "binary" "bytes" "packages"
printf '%-46s %12s %12s\n' "before: berth" "$(size "$OLD")" "$(deps "$BENCH_DIR/before-src" berth)"
for b in berth berthd berth-compose berth-shim; do
	printf '%-46s %12s %12s\n' "after: $b" "$(size "$BIN/$b")" "$(deps "$REPO" "$b")"
done
