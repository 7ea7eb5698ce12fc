#!/bin/sh
# Live-migrates Debian's Linux (tools/linux-guest) with a PV disk and a PV NIC between two jxen processes on this
# machine, in kvm mode (docs/migration.md). Run it where KVM has Xen support, e.g. inside the emulated VM:
#   ./jxen --help && tools/kvm-vm/run.sh tools/linux-guest/migrate.sh [--evtchn fifo|2l] [--vcpus N] [--max-downtime MS]
# (root: it makes a multi-queue TAP, jxmig0, with 10.0.77.1/24 on it). The guest (init's "jxen.migrate") writes and
# syncs files on xvda and keeps a timestamp loop while it moves; the host pings it throughout, then tells it over
# TCP that it arrived; it reads its files back against their MD5s and prints its loop's largest gap.
set -eu
evtchn=fifo vcpus=2 downtime=300
while [ $# -gt 0 ]; do
  case "$1" in
    --evtchn) evtchn="$2"; shift 2 ;;
    --vcpus) vcpus="$2"; shift 2 ;;
    --max-downtime) downtime="$2"; shift 2 ;;
    *) echo "usage: $0 [--evtchn fifo|2l] [--vcpus N] [--max-downtime MS]" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")/../.." && pwd)"
guest="${JXEN_LINUX_GUEST:-/var/tmp/jxen-linux-guest}"
[ -f "$guest/vmlinuz" ] && [ -d "$guest/modules" ] || { echo "migrate: no Linux guest in $guest (tools/linux-guest/prepare.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/jxen-migrate.XXXXXX)
tap=jxmig0 port=47199
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  ip link del "$tap" 2>/dev/null || true
  umount "$work/run" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# The initramfs with this tree's init (the prepared one may be older), the prepared kernel's modules.
mkdir -p "$work/initramfs/bin" "$work/initramfs/proc" "$work/initramfs/sys" "$work/initramfs/dev" "$work/initramfs/mnt" "$work/initramfs/lib/modules"
cp /bin/busybox "$work/initramfs/bin/"
cp "$guest"/modules/*.ko "$work/initramfs/lib/modules/"
cp "$here/tools/linux-guest/init" "$work/initramfs/init"
(cd "$work/initramfs" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")
truncate -s 64M "$work/disk.img"
# The control socket on a tmpfs: /tmp may be a 9p mount (the emulated VM's view of this machine), which has no sockets.
mkdir -p "$work/run" && mount -t tmpfs tmpfs "$work/run"
ip link set lo up # the migration's stream is on loopback; the emulated VM's init leaves it down
ip tuntap add "$tap" mode tap multi_queue
ip addr add 10.0.77.1/24 dev "$tap"
ip link set "$tap" up
cd "$here"
export JXEN_AOT=0 # the launcher's start-up cache, read over the emulated VM's 9p, slows the start there (docs/peer.md)
./jxen run --incoming "tcp:$port" --timeout 1800 > "$work/dst.out" 2> "$work/dst.err" &
dst=$!; pids="$pids $dst"
./jxen run --kernel "$guest/vmlinuz" --initrd "$work/initrd.gz" --memory 256 --vcpus "$vcpus" --accel kvm --evtchn "$evtchn" \
  --disk "$work/disk.img" --net "tap=$tap" --socket "$work/run/src.sock" --timeout 1800 \
  --cmdline "console=hvc0 jxen.migrate=10.0.77.2/24,10.0.77.1" > "$work/src.out" 2> "$work/src.err" &
src=$!; pids="$pids $src"
i=0
until grep -q "guest: migrate ready" "$work/src.out"; do
  i=$((i + 1))
  [ $i -lt 900 ] && kill -0 $src 2>/dev/null || { echo "migrate: the guest never got ready"; cat "$work/src.out" "$work/src.err"; exit 1; }
  sleep 1
done
busybox ping -i 0.2 10.0.77.2 > "$work/ping" 2>&1 &
pids="$pids $!"
sleep 10 # the guest writes meanwhile
kill -0 $src 2>/dev/null || { echo "migrate: the guest stopped before the migration began"; cat "$work/src.err"; tail -60 "$work/src.out"; exit 1; }
t0=$(date +%s%N)
./jxen migrate --socket "$work/run/src.sock" --to "tcp:127.0.0.1:$port" --max-downtime "$downtime" || { echo "migrate: jxen migrate failed"; cat "$work/src.err"; tail -60 "$work/src.out"; exit 1; }
t1=$(date +%s%N)
wait $src && echo "migrate: the source exited 0" || echo "migrate: the source exited $?"
sleep 5
echo arrived | timeout 20 busybox nc 10.0.77.2 7003 || true # closed by the timeout if nc waits for the peer
wait $dst && echo "migrate: the destination exited 0 (the guest powered off)" || echo "migrate: the destination exited $?"
echo "migrate: jxen migrate took $(( (t1 - t0) / 1000000 )) ms"
echo "--- the guest at the source"; grep "^guest:" "$work/src.out"
echo "--- the guest at the destination"; grep "^guest:" "$work/dst.out"
echo "--- the source's progress"; grep "migrat" "$work/src.err" | tail -5
# The pings' largest gap as the host saw it: replies come 200 ms apart while the guest runs.
awk -F'seq=' '/seq=/ { split($2, a, " "); s = a[1] + 0; if (n && s - last > gap) gap = s - last; last = s; n++ }
  END { printf "--- host pings: %d replies, the largest gap %d ms\n", n, gap * 200 }' "$work/ping"
