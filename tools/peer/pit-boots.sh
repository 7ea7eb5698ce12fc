#!/bin/sh
# What --pit changes in a Linux boot (docs/peer.md, "--pit: the calibration loop without exits"): the Debian kernel and
# tools/linux-guest initramfs booted under jxen (kvm mode, 2 vCPUs, 512 MiB, console=hvc0 jxen.shell) once without and
# once with --pit ("reverse": with it first), each console kept, the kernel's TSC calibration lines, init's time and
# the exit counters (the control socket's query-counters) read when the guest's shell is up. Needs KVM_CAP_XEN_HVM:
# inside tools/kvm-vm, `tools/kvm-vm/run.sh tools/peer/pit-boots.sh [reverse]`. Output in /var/tmp/jxen-pit/TIME.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
guest="${JXEN_LINUX_GUEST:-/var/tmp/jxen-linux-guest}"
out=/var/tmp/jxen-pit/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out/tmp"
java=""
for c in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  [ -n "$c" ] && [ -x "$c/bin/java" ] && "$c/bin/java" -version 2>&1 | grep -qE 'version "25' && { java="$c/bin/java"; break; }
done
[ -n "$java" ] || { echo "pit-boots: no JDK 25" >&2; exit 125; }
# The socket and the console's FIFO on a tmpfs: inside tools/kvm-vm the file systems are the host's over 9p, which has neither.
t="$out/tmp"
mount -t tmpfs pit-boots "$t" || exit 125
if [ "${1:-}" = reverse ]; then set -- "--pit" ""; else set -- "" "--pit"; fi
n=0
for args in "$@"; do
  n=$((n + 1))
  mkfifo "$t/in-$n"
  t0=$(date +%s.%N)
  "$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC -jar "$repo/cli/target/jxen.jar" run \
    --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" --accel kvm --vcpus 2 --memory 512 --cmdline "console=hvc0 jxen.shell" \
    --timeout 900 --socket "$t/s-$n" $args < "$t/in-$n" > "$out/console-$n.txt" 2> "$out/stderr-$n.txt" &
  pid=$!
  exec 3> "$t/in-$n" # the console's input stays open: the guest's shell waits on it
  i=0
  while ! grep -q "guest: shell" "$out/console-$n.txt" && [ $i -lt 900 ] && kill -0 $pid 2>/dev/null; do sleep 1; i=$((i + 1)); done
  t1=$(date +%s.%N)
  perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "socket: $!\n"; print $s qq({"execute":"query-counters"}\n); print scalar <$s>;' \
    "$t/s-$n" > "$out/counters-$n.json"
  echo "boot $n (${args:-no --pit}): wall to the shell $(echo "$t1 - $t0" | bc) s"
  grep -E "tsc: |Run /init|guest: uptime" "$out/console-$n.txt"
  cat "$out/counters-$n.json"
  echo
  kill -9 $pid
  wait $pid
  exec 3>&-
done
umount "$t"
echo "pit-boots: consoles and counters in $out"
