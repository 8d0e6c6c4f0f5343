#!/usr/bin/env bash
# Run all of Berth's tests: vet, unit tests and the end-to-end tests (root-only tests run when run as root,
# which CI does). Installs the test tools it needs on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
if [ "$(id -u)" = 0 ]; then
	need=()
	# s3cmd, boto3 (for /usr/bin/python3) and curl drive the S3 tests (test/e2e/s3_test.go), with the aws CLI:
	# whatever `aws` is on PATH, else Debian's awscli.
	for pkg in runc crun busybox-static tini iproute2 procps iptables nftables docker.io docker-compose docker-registry skopeo \
		python3-docker s3cmd python3-boto3 curl; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
	done
	command -v aws >/dev/null 2>&1 || need+=(awscli)
	# Virtual machines (test/e2e/vm_test.go): qemu, qemu-img for instance disks, e2fsprogs for their bases,
	# dropbear for the SSH image the tests build, ssh to reach it.
	for pkg in qemu-system-x86 qemu-utils e2fsprogs dropbear-bin openssh-client; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
	done
	if [ ${#need[@]} -gt 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
	# A Debian kernel for the qemu guests of the cgroup v2 test (test/e2e/cgroupv2_test.go) and of the virtual
	# machine tests (berthd --vm-kernel), unpacked from its package into a cache directory: nothing is installed
	# into this host's /boot. linux-image-amd64, not the cloud flavour: the cloud kernel has no 9p, which
	# VM-isolated containers share their root over.
	kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
	if [ -z "$kernel_pkg" ]; then
		apt-get update -qq
		kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
	fi
	kernel_dir=/var/cache/berth-test/$kernel_pkg
	if [ ! -d "$kernel_dir/boot" ]; then
		rm -rf "$kernel_dir.tmp" && mkdir -p "$kernel_dir.tmp"
		(cd "$kernel_dir.tmp" && apt-get download -qq "$kernel_pkg" 2>/dev/null && dpkg-deb -x ./*.deb x && rm -f ./*.deb)
		rm -rf "$kernel_dir" && mv "$kernel_dir.tmp/x" "$kernel_dir" && rm -rf "$kernel_dir.tmp"
	fi
	export BERTH_TEST_KERNEL=$(ls "$kernel_dir"/boot/vmlinuz-*)
	export BERTH_TEST_KERNEL_MODULES=$(ls -d "$kernel_dir"/lib/modules/*)
	export BERTH_TEST_REQUIRE_VM=1
fi
go vet ./...
# Unit tests get a short timeout so a hang is reported (with every goroutine's stack) long before the
# suite's budget; the end-to-end tests start daemons and containers and get longer.
go test -count=1 -timeout 5m $(go list ./... | grep -v '/test/e2e$') "$@"
go test -count=1 -timeout 15m ./test/e2e/... "$@"
