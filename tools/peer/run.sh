#!/bin/sh
# The peer harness (docs/peer.md, issue 34): the same Debian kernel and initramfs (prepare.sh) under jxen (kvm mode,
# PVH) and under QEMU's Xen emulation (Xen HVM), alternating, N boots each, on this machine's KVM, which needs
# KVM_CAP_XEN_HVM: inside tools/kvm-vm, `tools/kvm-vm/run.sh tools/peer/run.sh`. Writes each boot's record
# (results.jsonl), console and stderr, and the summary (results.md, results.json) into the output directory.
# Usage: run.sh [--boots N] [--secs S] [--timeout S] [--out DIR] [--only jxen|qemu]
#   --boots N    boots per VMM (default 3)      --secs S   seconds per disk run in the guest (default 5)
#   --timeout S  a boot's limit (default 900)   --out DIR  default /var/tmp/jxen-peer/runs/DATE
#   --only VMM   boots of that one VMM only (a quick look; no comparison)
#   --jxen-args "ARGS"  more options for jxen run (e.g. "--evtchn fifo"); in each record's command
# Before it, on the host: tools/peer/prepare.sh (root), and ./jxen --help (so the jar is built, not rebuilt inside).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
peer="${JXEN_PEER:-/var/tmp/jxen-peer}"
boots=3 secs=5 timeout=900 out="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --boots) boots=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --jxen-args) JXEN_PEER_ARGS=$2; export JXEN_PEER_ARGS; shift 2 ;;
    *) echo "peer: unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[ -x "$peer/bin/qemu-system-x86_64" ] && [ -f "$peer/initrd.gz" ] || { echo "peer: not prepared (tools/peer/prepare.sh as root)" >&2; exit 125; }
[ -c /dev/kvm ] || { echo "peer: no /dev/kvm here (inside tools/kvm-vm: tools/kvm-vm/run.sh $0)" >&2; exit 125; }
jar="$repo/cli/target/jxen.jar"
[ -n "${JXEN_CP:-}" ] || [ -f "$jar" ] || { echo "peer: no $jar (run ./jxen --help first)" >&2; exit 125; }
java=""
for c in "${JXEN_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  if [ -n "$c" ] && [ -x "$c/bin/java" ] && "$c/bin/java" -version 2>&1 | grep -qE 'version "25([."]|$)'; then java="$c/bin/java"; break; fi
done
[ -n "$java" ] || { echo "peer: no JDK 25" >&2; exit 125; }
out="${out:-$peer/runs/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out/logs"
# The disk images live in memory (a tmpfs where this may mount one, as inside tools/kvm-vm): the host file system
# here may be 9p, whose cost would swamp both back ends alike.
images="$out/images"
mkdir -p "$images"
mounted=""
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1g peer-images "$images" 2>/dev/null; then mounted=yes; fi
# The network: one TAP (persistent, so each VMM in turn attaches to it) with the host's end at 10.77.0.1 and netbench
# serving there; where it cannot be made (not root, no tun), the boots run without a NIC and the net rows stay empty.
tap=peertap0 server=""
ip link del "$tap" 2>/dev/null || true
if [ "$(id -u)" = 0 ] && ip tuntap add dev "$tap" mode tap 2>/dev/null; then
  ip addr add 10.77.0.1/24 dev "$tap" && ip link set "$tap" up
  "$peer/netbench" serve 5201 & server=$!
  JXEN_PEER_NET=$tap; export JXEN_PEER_NET
else
  echo "peer: no TAP could be made: the boots have no NIC" >&2
fi
trap '[ -n "$mounted" ] && umount "$images"; [ -n "$server" ] && kill "$server"; ip link del "$tap" 2>/dev/null || true' EXIT
{
  echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "jxen: $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $("$java" -version 2>&1 | head -1)"
  echo "qemu: $("$peer/bin/qemu-system-x86_64" --version 2>/dev/null | head -1)"
  echo "guest: $(cat "${JXEN_LINUX_GUEST:-/var/tmp/jxen-linux-guest}/package" 2>/dev/null), disk runs of $secs s, images on $( [ -n "$mounted" ] && echo tmpfs || echo "$images")"
  echo "network: $( [ -n "${JXEN_PEER_NET:-}" ] && echo "TAP $tap, host end 10.77.0.1, TCP runs of $secs s" || echo none)"
} | tee "$out/host.txt"
export JXEN_PEER="$peer" JXEN_JAVA="$java" JXEN_JAR="$jar"
i=1
while [ "$i" -le "$boots" ]; do
  # Alternating, and each pair in the other order than the last, so neither VMM always follows the other.
  if [ $((i % 2)) = 1 ]; then order="jxen qemu"; else order="qemu jxen"; fi
  [ -z "$only" ] || order=$only
  for vmm in $order; do
    img="$images/xvda-$vmm-$i.img"
    rm -f "$img"
    fallocate -l 256M "$img" 2>/dev/null || dd if=/dev/zero of="$img" bs=1M count=256 2>/dev/null
    perl "$here/boot.pl" "$vmm" "$i" "$out/results.jsonl" "$out/logs" "$img" "$secs" "$timeout" || echo "peer: boot.pl failed for $vmm $i" >&2
    rm -f "$img"
  done
  perl "$here/report.pl" "$out/results.jsonl" "$out/results.md" "$out/results.json" >/dev/null
  i=$((i + 1))
done
echo "peer: results in $out"
cat "$out/results.md"
