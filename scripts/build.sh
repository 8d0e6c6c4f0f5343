#!/usr/bin/env bash
# Build Berth's binaries into DIR (default: bin/ in the repository) the way they ship, -trimpath and without
# symbols: berth (the CLI), berthd (the daemon and the registry: `berth daemon` and `berth registry` run it),
# berth-compose (`berth compose` runs it) and berth-shim (one per container, static: CGO_ENABLED=0 keeps
# libc and the cgo resolver out of its memory). berth finds the others next to itself, so keep them together.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
# An older Go from Debian fetches the toolchain go.mod asks for through the module proxy.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

out=${1:-bin}
mkdir -p "$out"
for b in berth berthd berth-compose; do
	go build -trimpath -ldflags='-s -w' -o "$out/$b" "./cmd/$b"
done
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/berth-shim" ./cmd/berth-shim
