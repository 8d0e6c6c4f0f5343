#!/usr/bin/env bash
# Run all of Berth's tests: vet, unit tests and the end-to-end tests (root-only tests run when run as root,
# which CI does). Installs the test tools it needs on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
if [ "$(id -u)" = 0 ]; then
	need=()
	for pkg in runc crun busybox-static tini iproute2 procps iptables nftables docker.io docker-compose docker-registry skopeo; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
	done
	if [ ${#need[@]} -gt 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${need[@]}" >/dev/null
	fi
fi
go vet ./...
# Unit tests get a short timeout so a hang is reported (with every goroutine's stack) long before the
# suite's budget; the end-to-end tests start daemons and containers and get longer.
go test -count=1 -timeout 5m $(go list ./... | grep -v '/test/e2e$') "$@"
go test -count=1 -timeout 15m ./test/e2e/... "$@"
