#!/usr/bin/env bash
# Set up Berth on a fresh Debian machine and run its main job: install what it needs, build, start the daemon,
# make a busybox image locally and run a container from it. Run as root from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need=()
# qemu, qemu-utils and e2fsprogs run virtual machines (`berth vm`, `--runtime berth-vm`).
for pkg in runc crun busybox-static tini iproute2 procps iptables nftables ca-certificates qemu-system-x86 qemu-utils e2fsprogs; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	need+=(golang-go)
fi
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=/usr/local/go/bin:$PATH
# An older Go from Debian fetches the toolchain go.mod asks for through the module proxy.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

scripts/build.sh bin
install -m 0755 bin/berth bin/berthd bin/berth-compose bin/berth-shim bin/berth-vm bin/berth-vm-init /usr/local/bin/

# The kernel virtual machines boot: Debian's linux-image-amd64, unpacked from its package where berthd looks
# for it (<data-root>/vm/kernel); nothing is installed into this host's /boot.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
kernel_dir=/var/lib/berth/vm/kernel/$kernel_pkg
if [ -n "$kernel_pkg" ] && [ ! -d "$kernel_dir/boot" ]; then
	rm -rf "$kernel_dir.tmp" && mkdir -p "$kernel_dir.tmp"
	(cd "$kernel_dir.tmp" && apt-get download -qq "$kernel_pkg" 2>/dev/null && dpkg-deb -x ./*.deb x && rm -f ./*.deb)
	rm -rf "$kernel_dir" && mv "$kernel_dir.tmp/x" "$kernel_dir" && rm -rf "$kernel_dir.tmp"
fi

if ! berth version >/dev/null 2>&1; then
	mkdir -p /var/log
	nohup berth daemon >>/var/log/berth.log 2>&1 &
	for _ in $(seq 1 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
fi
berth version

# A busybox image made here, from Debian's busybox-static: no registry involved.
if ! berth image inspect busybox:latest >/dev/null 2>&1; then
	rootfs=$(mktemp -d)
	trap 'rm -rf "$rootfs"' EXIT
	mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
	chmod 1777 "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . | berth import --change 'CMD ["sh"]' - busybox:latest
fi
berth run --rm busybox echo "hello from a Berth container"
berth images
