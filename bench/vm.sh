#!/usr/bin/env bash
# Virtual machines: time from `berth vm run` and from `aws ec2 run-instances` (the daemon's cloud endpoint) to an
# ssh answer and from `docker run --runtime berth-vm --rm IMAGE true` to its exit, against plain qemu booting the same kernel, initramfs and disk by hand (bench/internal/vmfloor:
# Berth's own qemu command line, without the engine) and against runc; memory per idle instance (qemu's RSS,
# PSS and private memory) against the plain qemu's. The accelerator is the daemon's choice (TCG where KVM cannot
# boot Debian's kernel; VM_ACCEL=kvm asks for KVM).
# Usage: bench/vm.sh as root   (RUNS=N per measurement, default 5; BERTH_VM_KERNEL=vmlinuz or package dir)
source "$(dirname "$0")/lib.sh"
for pkg in hyperfine qemu-system-x86 qemu-utils e2fsprogs dropbear-bin openssh-client busybox-static docker.io; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v aws >/dev/null 2>&1 || need+=(awscli)
if [ -n "${need[*]:-}" ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
RUNS=${RUNS:-5}

# The kernel: as scripts/test.sh unpacks it (Debian's linux-image-amd64, into a cache directory).
kernel=${BERTH_VM_KERNEL:-}
if [ -z "$kernel" ]; then
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
	kernel=/var/cache/berth-test/$pkg
	if [ ! -d "$kernel/boot" ]; then
		mkdir -p "$kernel.tmp" && (cd "$kernel.tmp" && apt-get download -qq "$pkg" && dpkg-deb -x ./*.deb x && rm -f ./*.deb)
		mv "$kernel.tmp/x" "$kernel" && rm -rf "$kernel.tmp"
	fi
fi

busybox_tar
cloud_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_berth --vm-kernel "$kernel" ${VM_ACCEL:+--vm-accel "$VM_ACCEL"} --cloud-addr "127.0.0.1:$cloud_port"
# The aws CLI with the root keys the daemon generated on its first start, and nothing of this machine's settings.
awsec2() {
	AWS_SHARED_CREDENTIALS_FILE=$BENCH_DIR/berth/cloud/root-credentials AWS_CONFIG_FILE=/dev/null AWS_PROFILE=default \
		AWS_EC2_METADATA_DISABLED=true AWS_PAGER= aws --endpoint-url "http://127.0.0.1:$cloud_port" --region us-east-1 ec2 "$@"
}

# CPU time, which this shared machine's load does not stretch as it stretches wall time: the daemon (and all it
# starts: shims, sandboxes, qemu) in one cpuacct cgroup, the by-hand qemu in another; a run's CPU is the
# difference of the cgroup's usage before and after it. The CLI's own CPU is left out of both.
CG=/sys/fs/cgroup/cpuacct
mkdir -p "$CG/berth-bench-$$" "$CG/berth-bench-floor-$$"
echo "${PIDS[0]}" >"$CG/berth-bench-$$/cgroup.procs"
usage() { cat "$CG/$1/cpuacct.usage"; }
cpu_since() { echo $(( ($(usage "$1") - $2) / 1000000 )); } # ms of CPU since usage was $2
floor() { bash -c 'echo $$ >'"$CG/berth-bench-floor-$$"'/cgroup.procs; exec "$0" "$@"' "$BIN/vmfloor" "$@"; }
BERTH_BRIDGE=$(berth network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
export BERTH_CONFIG=$BENCH_DIR/berth-config
(cd "$REPO" && go build -o "$BIN/vmfloor" ./bench/internal/vmfloor)
vm_cleanup() {
	set +e
	for id in $(berth vm ls -aq 2>/dev/null); do berth vm rm -f "$id" >/dev/null 2>&1; done
	[ -f "$BENCH_DIR/floor/qemu.pid" ] && kill "$(cat "$BENCH_DIR/floor/qemu.pid")" 2>/dev/null
	ip link del bfloor0 2>/dev/null
	cleanup
	sleep 0.5
	rmdir "$CG/berth-bench-$$" "$CG/berth-bench-floor-$$" 2>/dev/null
}
trap vm_cleanup EXIT

# An image with an SSH server: busybox and Debian's dropbear with its libraries.
root=$BENCH_DIR/sshroot
cp -a "$BENCH_DIR/rootfs" "$root"
mkdir -p "$root/usr/sbin" && cp /usr/sbin/dropbear "$root/usr/sbin/"
for l in $(ldd /usr/sbin/dropbear | grep -o '/[^ ]*'); do mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; done
echo /bin/sh >"$root/etc/shells"
tar -C "$root" -c . | berth import -c 'CMD ["sh"]' - sshbox:latest >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$BENCH_DIR/key"
berth vm keypair import bench "$BENCH_DIR/key.pub" >/dev/null
berth vm sg create ssh >/dev/null && berth vm sg allow ssh 22
# The same through EC2 (the root account's own key pair and group: an account sees only its own).
awsec2 import-key-pair --key-name bench --public-key-material "fileb://$BENCH_DIR/key.pub" >/dev/null
sg=$(awsec2 create-security-group --group-name ssh --description ssh --query GroupId --output text)
awsec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 22 --cidr 0.0.0.0/0 >/dev/null
ami=$(awsec2 describe-images --filters Name=name,Values=sshbox:latest --query 'Images[0].ImageId' --output text)
sshq() { ssh -i "$BENCH_DIR/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes "root@$1" true 2>/dev/null; }
now_ms() { date +%s%3N; }
cpu_ms() { awk '{print ($14+$15)*10}' "/proc/$1/stat"; } # utime+stime of a process, in ms (USER_HZ 100)

# Warm-up: the first launch makes the boot files and the image's base disk, the first container its initramfs.
docker_vm() { DOCKER_HOST="unix://$BERTH_SOCK" DOCKER_CONFIG=$BENCH_DIR/docker-config /usr/bin/docker "$@"; }
berth vm run --name warm --key-name bench --security-group ssh --type t2.nano sshbox >/dev/null
berth vm rm -f warm >/dev/null
docker_vm run --runtime berth-vm --rm busybox true

# The floor: the same qemu, kernel, initramfs and disk (an overlay on the same base), on a tap of the same
# bridge, booted by hand; and for containers the same kernel and initramfs with the image's files over 9p, the
# command run through the guest agent.
boot=$(ls -d "$BENCH_DIR"/berth/vm/boot/*/ | head -1)
initrd=$(ls -t "$boot"/initrd-instance-*.img | head -1)
cinitrd=$(ls -t "$boot"/initrd-container-*.img | head -1)
base=$(ls "$BENCH_DIR"/berth/vm/bases/*.ext4 | head -1)
mkdir -p "$BENCH_DIR/floor"
ip tuntap add bfloor0 mode tap && ip link set bfloor0 master "$BERTH_BRIDGE" up
gw=$(berth network inspect -f '{{(index .IPAM.Config 0).Gateway}}' bridge)
subnet=$(berth network inspect -f '{{(index .IPAM.Config 0).Subnet}}' bridge)
floor_ip=${gw%.*}.250
mem() { awk '/^(Rss|Pss|Private_Clean|Private_Dirty):/ {v[$1]+=$2} END {printf "%d %d %d", v["Rss:"]/1024, v["Pss:"]/1024, (v["Private_Clean:"]+v["Private_Dirty:"])/1024}' "/proc/$1/smaps_rollup"; }

# Each round measures everything once, so that the shared machine's slow spells weigh on all alike.
for f in aws_cli berth_ssh aws_ssh floor_ssh vm_rm floor_rm berth_ssh_cpu aws_ssh_cpu floor_ssh_cpu vm_rm_cpu floor_rm_cpu; do : >"$BENCH_DIR/$f"; done
for i in $(seq "$RUNS"); do
	# berth vm run -> ssh answers (run returns once the guest's SSH server listens; ssh then connects)
	t0=$(now_ms); u0=$(usage "berth-bench-$$")
	id=$(berth vm run --name "b$i" --key-name bench --security-group ssh --type t2.nano sshbox)
	ip=$(berth vm inspect -f '{{.PrivateIpAddress}}' "$id")
	until sshq "$ip"; do sleep 0.02; done
	echo $(( $(now_ms) - t0 )) >>"$BENCH_DIR/berth_ssh"; cpu_since "berth-bench-$$" "$u0" >>"$BENCH_DIR/berth_ssh_cpu"
	if [ "$i" = 1 ]; then
		sleep 10 # idle: what a booted, idle instance keeps
		berth_mem=$(mem "$(berth vm inspect -f '{{.Pid}}' "$id")")
		accel=$(berth vm inspect -f '{{.Accel}}' "$id")
	fi
	berth vm rm -f "$id" >/dev/null

	# aws ec2 run-instances -> ssh answers (the CLI's own start, ~0.5-1 s of Python, is in the wall time; the
	# answer is the pending instance with its address)
	t0=$(now_ms); u0=$(usage "berth-bench-$$")
	read -r id ip < <(awsec2 run-instances --image-id "$ami" --instance-type t2.nano --key-name bench --security-group-ids "$sg" \
		--count 1 --query 'Instances[0].[InstanceId,PublicIpAddress]' --output text)
	until sshq "$ip"; do sleep 0.02; done
	echo $(( $(now_ms) - t0 )) >>"$BENCH_DIR/aws_ssh"; cpu_since "berth-bench-$$" "$u0" >>"$BENCH_DIR/aws_ssh_cpu"
	berth vm rm -f "$id" >/dev/null
	# what the CLI itself costs: a call the daemon answers at once
	t0=$(now_ms); awsec2 describe-regions --query 'Regions[0].RegionName' --output text >/dev/null
	echo $(( $(now_ms) - t0 )) >>"$BENCH_DIR/aws_cli"

	# plain qemu -> ssh answers
	rm -f "$BENCH_DIR/floor/disk.qcow2" && qemu-img create -q -f qcow2 -F raw -b "$base" "$BENCH_DIR/floor/disk.qcow2"
	ip neigh flush dev "$BERTH_BRIDGE" to "$floor_ip" 2>/dev/null || true
	t0=$(now_ms); u0=$(usage "berth-bench-floor-$$")
	floor instance "$boot/vmlinux" "$initrd" "$BENCH_DIR/floor/disk.qcow2" bfloor0 02:42:00:00:00:fa \
		"$floor_ip/${subnet#*/}" "$gw" "$BENCH_DIR/key.pub" "$BENCH_DIR/floor/qemu.pid"
	until sshq "$floor_ip"; do sleep 0.02; done
	echo $(( $(now_ms) - t0 )) >>"$BENCH_DIR/floor_ssh"; cpu_since "berth-bench-floor-$$" "$u0" >>"$BENCH_DIR/floor_ssh_cpu"
	fpid=$(cat "$BENCH_DIR/floor/qemu.pid")
	if [ "$i" = 1 ]; then
		sleep 10
		floor_mem=$(mem "$fpid")
	fi
	kill "$fpid"; while kill -0 "$fpid" 2>/dev/null; do sleep 0.05; done

	# containers
	t0=$(now_ms); u0=$(usage "berth-bench-$$")
	docker_vm run --runtime berth-vm --rm busybox true
	echo $(( $(now_ms) - t0 )) >>"$BENCH_DIR/vm_rm"; cpu_since "berth-bench-$$" "$u0" >>"$BENCH_DIR/vm_rm_cpu"
	u0=$(usage "berth-bench-floor-$$")
	floor container "$boot/vmlinux" "$cinitrd" "$BENCH_DIR/rootfs" true >>"$BENCH_DIR/floor_rm"
	cpu_since "berth-bench-floor-$$" "$u0" >>"$BENCH_DIR/floor_rm_cpu"
done
runc_ms=$(median_ms "$BIN/berth -H unix://$BERTH_SOCK run --rm busybox true")

med() { python3 -c 'import statistics,sys; print("%.0f" % statistics.median(float(l) for l in open(sys.argv[1]) if l.strip()))' "$1"; }
b=$(med "$BENCH_DIR/berth_ssh"); f=$(med "$BENCH_DIR/floor_ssh"); a=$(med "$BENCH_DIR/aws_ssh"); ac=$(med "$BENCH_DIR/aws_ssh_cpu"); cli=$(med "$BENCH_DIR/aws_cli")
v=$(med "$BENCH_DIR/vm_rm"); fr=$(med "$BENCH_DIR/floor_rm")
bc=$(med "$BENCH_DIR/berth_ssh_cpu"); fc=$(med "$BENCH_DIR/floor_ssh_cpu")
vc=$(med "$BENCH_DIR/vm_rm_cpu"); frc=$(med "$BENCH_DIR/floor_rm_cpu")
echo "accelerator: $accel ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-58s %9s %9s\n' "median of $RUNS" "wall ms" "CPU ms"
printf '%-58s %9s %9s\n' "berth vm run (t2.nano) -> ssh answers" "$b" "$bc"
printf '%-58s %9s %9s\n' "aws ec2 run-instances (t2.nano) -> ssh answers" "$a" "$ac"
printf '%-58s %9s\n' "aws ec2 describe-regions (the CLI's own cost)" "$cli"
printf '%-58s %9s %9s\n' "plain qemu, same kernel/initramfs/disk -> ssh answers" "$f" "$fc"
printf '%-58s %9s %9s\n' "docker run --runtime berth-vm --rm busybox true" "$v" "$vc"
printf '%-58s %9s %9s\n' "plain qemu, same kernel/initramfs, 9p root, true" "$fr" "$frc"
printf '%-58s %9s\n' "berth run --rm busybox true (runc)" "$runc_ms"
echo
echo "ratios (target: berth / plain qemu <= 1.3)          wall    CPU"
echo "berth vm run / plain qemu                         $(ratio "$b" "$f")    $(ratio "$bc" "$fc")"
echo "aws ec2 run-instances / plain qemu                $(ratio "$a" "$f")    $(ratio "$ac" "$fc")"
echo "run --runtime berth-vm / plain qemu               $(ratio "$v" "$fr")    $(ratio "$vc" "$frc")"
echo "run --runtime berth-vm / runc (wall)              $(ratio "$v" "$runc_ms")"
echo
echo "memory of an idle t2.nano (512 MiB) after boot, MiB: RSS PSS private"
echo "berth vm:   $berth_mem"
echo "plain qemu: $floor_mem"
