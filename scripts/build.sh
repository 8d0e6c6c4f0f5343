#!/usr/bin/env bash
# Build Berth's binaries into DIR (default: bin/ in the repository) the way they ship, -trimpath and without
# symbols: berth (the CLI), berthd (the daemon and the registry: `berth daemon` and `berth registry` run it),
# berth-compose (`berth compose` runs it), berth-shim (one per container, static: CGO_ENABLED=0 keeps
# libc and the cgo resolver out of its memory), berth-vm (the runtime of VM-isolated containers, one sandbox
# process per container, static too) and berth-vm-init (the init inside Berth's virtual machines: static, it runs
# in an initramfs without libc). berth finds the others next to itself, so keep them together.
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
for b in berth-shim berth-vm berth-vm-init; do
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$b" "./cmd/$b"
done
