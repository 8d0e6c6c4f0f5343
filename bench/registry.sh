#!/usr/bin/env bash
# Registry throughput: skopeo pushes an image with one 200 MiB random (incompressible) layer, stored gzipped so that
# skopeo sends it as it is instead of compressing it on the way (which would measure skopeo's gzip), from an OCI layout to
# `berth registry serve` and to the reference registry (Debian's docker-registry, distribution 2.8, filesystem
# storage), then pulls it back into a dir: layout; both registries on 127.0.0.1 in one run, interleaved (the first
# side alternates, and dirty pages are flushed before each timed copy), ROUNDS=3 rounds, median MiB/s per side
# and the berth/reference ratio. Every push uses a fresh random layer, so no push
# is satisfied by a blob the registry (or skopeo's blob-info cache) already knows.
# Usage: bench/registry.sh as root   (SIZE_MB=200, ROUNDS=3; PPROF=1 saves a 20 s CPU profile of berth's push)
source "$(dirname "$0")/lib.sh"
SIZE_MB=${SIZE_MB:-200}
ROUNDS=${ROUNDS:-3}
need=()
for pkg in skopeo docker-registry; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's package starts a registry on :5000; only our own instances are measured, it is left alone.

mkdir -p "$BIN"
"$REPO/scripts/build.sh" "$BIN"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$1/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "registry on $1 did not start" >&2; return 1; }

BERTH_PORT=$(free_port)
"$BIN/berth" registry serve --addr "127.0.0.1:$BERTH_PORT" --root "$BENCH_DIR/berth-registry" \
	${PPROF:+--debug-addr 127.0.0.1:$((BERTH_PORT + 1))} >"$BENCH_DIR/berth-registry.log" 2>&1 &
PIDS+=($!)
REF_PORT=$(free_port)
cat >"$BENCH_DIR/ref.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $BENCH_DIR/ref-registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REF_PORT
EOF
docker-registry serve "$BENCH_DIR/ref.yml" >"$BENCH_DIR/ref-registry.log" 2>&1 &
PIDS+=($!)
wait_port "$BERTH_PORT"
wait_port "$REF_PORT"

# make_layout: an OCI layout at $BENCH_DIR/src holding one image whose only layer is a gzipped tar of SIZE_MB random
# bytes (gzip -1: random data does not shrink, it is only framed).
make_layout() {
	rm -rf "$BENCH_DIR/src" "$BENCH_DIR/layer"
	mkdir -p "$BENCH_DIR/layer" "$BENCH_DIR/src/blobs/sha256"
	head -c "$((SIZE_MB << 20))" /dev/urandom >"$BENCH_DIR/layer/random.bin"
	tar -C "$BENCH_DIR/layer" -cf "$BENCH_DIR/layer.raw" random.bin
	DIFF_ID=sha256:$(sha256sum "$BENCH_DIR/layer.raw" | cut -d' ' -f1)
	gzip -1 -c "$BENCH_DIR/layer.raw" >"$BENCH_DIR/layer.tar"
	rm -f "$BENCH_DIR/layer.raw"
	rm -rf "$BENCH_DIR/layer"
	python3 - "$BENCH_DIR" "$DIFF_ID" <<'EOF'
import hashlib, json, os, sys
d, diff_id = sys.argv[1], sys.argv[2]
blobs = os.path.join(d, "src", "blobs", "sha256")
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, h), "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
lh = hashlib.sha256()
with open(os.path.join(d, "layer.tar"), "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        lh.update(chunk)
layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + lh.hexdigest(),
         "size": os.path.getsize(os.path.join(d, "layer.tar"))}
os.rename(os.path.join(d, "layer.tar"), os.path.join(blobs, lh.hexdigest()))
cfg = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                      "config": {}}).encode())
cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
man = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": cfg, "layers": [layer]}).encode())
man["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
man["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
json.dump({"schemaVersion": 2, "manifests": [man]}, open(os.path.join(d, "src", "index.json"), "w"))
open(os.path.join(d, "src", "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
EOF
}

# timed CMD...: seconds the command took.
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >"$BENCH_DIR/skopeo.log" 2>&1 || { echo "failed: $*" >&2; cat "$BENCH_DIR/skopeo.log" >&2; return 1; }
	t1=$(date +%s.%N)
	python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1"
}
mibs() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$SIZE_MB" "$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

declare -A push pull
for round in $(seq 1 "$ROUNDS"); do
	# Alternate which registry goes first, and flush dirty pages before each timed copy, so that neither side pays
	# for the other's (or the layout generator's) writeback.
	sides="berth ref"
	[ $((round % 2)) = 0 ] && sides="ref berth"
	for side in $sides; do
		port=$BERTH_PORT
		[ "$side" = ref ] && port=$REF_PORT
		make_layout
		ref="docker://127.0.0.1:$port/bench/r$round:latest"
		if [ -n "${PPROF:-}" ] && [ "$side" = berth ] && [ "$round" = 1 ]; then
			curl -fsS -o "$BENCH_DIR/push.pprof" "http://127.0.0.1:$((BERTH_PORT + 1))/debug/pprof/profile?seconds=20" &
			PROF_PID=$!
		fi
		sync
		s=$(timed skopeo copy --quiet --dest-tls-verify=false "oci:$BENCH_DIR/src:latest" "$ref")
		push[$side]+="$(mibs "$s") "
		rm -rf "$BENCH_DIR/out"
		sync
		s=$(timed skopeo copy --quiet --src-tls-verify=false "$ref" "dir:$BENCH_DIR/out")
		pull[$side]+="$(mibs "$s") "
		rm -rf "$BENCH_DIR/out"
		if [ -n "${PROF_PID:-}" ]; then
			wait "$PROF_PID"
			cp "$BENCH_DIR/push.pprof" "${PPROF_OUT:-/tmp/berth-registry-push.pprof}"
			echo "CPU profile: ${PPROF_OUT:-/tmp/berth-registry-push.pprof}"
			PROF_PID=
		fi
	done
	echo "after round $round (MiB/s): push berth ${push[berth]}/ reference ${push[ref]}; pull berth ${pull[berth]}/ reference ${pull[ref]}"
done

# shellcheck disable=SC2086
bp=$(median ${push[berth]}); rp=$(median ${push[ref]}); bl=$(median ${pull[berth]}); rl=$(median ${pull[ref]})
echo
echo "skopeo, one ${SIZE_MB} MiB random layer, median of $ROUNDS interleaved rounds (MiB/s, higher is better):"
printf '%-6s %10s %10s %8s\n' "" berth reference ratio
printf '%-6s %10s %10s %8s\n' push "$bp" "$rp" "$(ratio "$bp" "$rp")"
printf '%-6s %10s %10s %8s\n' pull "$bl" "$rl" "$(ratio "$bl" "$rl")"
