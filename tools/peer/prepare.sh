#!/bin/sh
# Prepares the peer harness (docs/peer.md, issue 34) into ${1:-/var/tmp/jxen-peer}:
#  - QEMU >= 8.2 with its Xen emulation (xen-disk, xen-console, xen-net-device) from Debian's bookworm-backports,
#    falling back to trixie: downloaded with a PRIVATE apt configuration (the system's sources and QEMU are never
#    touched; tools/kvm-vm runs the system QEMU 7.2 as its emulator) and extracted with dpkg -x into qemu/; the
#    libraries it needs beyond the system's come along (qemu/lib, see env.sh); the BIOS from seabios;
#  - the guest's initramfs (initrd.gz): busybox, diskbench and pingpong (built here, static), the PV disk modules and ./init.
# Idempotent; run as root (apt-get download needs a writable cache, like tools/linux-guest/prepare.sh). Needs the
# Linux guest's kernel and modules from tools/linux-guest/prepare.sh.
set -eu
dir="${1:-/var/tmp/jxen-peer}"
here="$(cd "$(dirname "$0")" && pwd)"
guest="${JXEN_LINUX_GUEST:-/var/tmp/jxen-linux-guest}"
[ -f "$guest/vmlinuz" ] && [ -d "$guest/modules" ] || { echo "peer: the Linux guest is not prepared (tools/linux-guest/prepare.sh)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "peer: needs busybox-static (/bin/busybox)" >&2; exit 1; }
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/parts" "$dir/apt/prefs"
cd "$dir"

# A private apt: its own sources, lists and cache; the system's dpkg status, so only what this system lacks is fetched.
apt_private() {
  tool=$1; shift
  "$tool" -q -o Dir::Etc::sourcelist="$dir/apt/sources.list" -o Dir::Etc::sourceparts="$dir/apt/parts" \
    -o Dir::Etc::preferencesparts="$dir/apt/prefs" -o Dir::State::Lists="$dir/apt/lists" \
    -o Dir::Cache="$dir/apt/cache" -o APT::Get::List-Cleanup=0 -o Acquire::Languages=none "$@"
}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# bookworm-backports first (built against bookworm: few new libraries); trixie if backports is unreachable or has no
# QEMU >= 8.2 (its QEMU then needs trixie's newer libraries, which go into qemu/lib beside it, never into the system).
qemu_ok() { [ -x qemu/usr/bin/qemu-system-x86_64 ] && [ -f qemu/suite ]; }
fetch_qemu() {
  suite=$1
  printf 'deb [signed-by=%s] http://deb.debian.org/debian bookworm main\ndeb [signed-by=%s] http://deb.debian.org/debian %s main\n' \
    "$keyring" "$keyring" "$suite" > apt/sources.list
  [ "$suite" = bookworm-backports ] || printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' "$keyring" "$suite" > apt/sources.list
  apt_private apt-get update -qq >apt/update.log 2>&1 || { echo "peer: apt-get update of $suite failed:" >&2; tail -3 apt/update.log >&2; return 1; }
  ver=$(apt_private apt-cache madison qemu-system-x86 2>/dev/null | awk -F' [|] ' -v s="$suite/" 'index($3, s) {print $2; exit}')
  case "$ver" in
    ''|'(none)') echo "peer: $suite has no qemu-system-x86" >&2; return 1 ;;
    1:[0-7].*|1:8.[01]*) echo "peer: $suite's qemu-system-x86 $ver is older than 8.2" >&2; return 1 ;;
  esac
  # What installing it would bring into this system: QEMU's own packages and the libraries the system lacks.
  apt_private apt-get -s -t "$suite" install -y --no-install-recommends qemu-system-x86 seabios > apt/simulate.log 2>&1 \
    || { echo "peer: apt cannot resolve qemu-system-x86 from $suite:" >&2; tail -5 apt/simulate.log >&2; return 1; }
  # From bookworm-backports the system's C library serves; trixie's QEMU brings its own, run through its own loader.
  pkgs=$(awk '/^Inst / {print $2}' apt/simulate.log)
  [ "$suite" = bookworm-backports ] && pkgs=$(echo "$pkgs" | grep -v -e '^libc6$' -e '^libc-bin$' -e '^libgcc-s1$' -e '^libstdc++6$' || true)
  rm -rf qemu debs && mkdir -p qemu debs
  (cd debs && apt_private apt-get -t "$suite" download $pkgs qemu-system-x86 qemu-system-common qemu-system-data seabios >../apt/download.log 2>&1) \
    || { echo "peer: apt-get download from $suite failed:" >&2; tail -5 apt/download.log >&2; return 1; }
  for f in debs/*.deb; do dpkg -x "$f" qemu; done
  echo "$suite $ver" > qemu/suite
  rm -rf debs
}
if ! qemu_ok; then
  fetch_qemu bookworm-backports || fetch_qemu trixie || { echo "peer: no QEMU >= 8.2 with Xen emulation could be prepared" >&2; exit 1; }
fi
# bin/qemu-system-x86_64: the extracted QEMU with its libraries first (and its own loader where it brought a C
# library), its firmware directory; exec keeps the process id, whose memory the harness reads.
libs="$dir/qemu/usr/lib/x86_64-linux-gnu:$dir/qemu/lib/x86_64-linux-gnu"
mkdir -p bin
loader="$dir/qemu/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -f "$loader" ] || loader="$dir/qemu/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
if [ -f "$loader" ]; then
  printf '#!/bin/sh\nQEMU_MODULE_DIR="%s" exec "%s" --library-path "%s" "%s" -L "%s" "$@"\n' "$dir/qemu/usr/lib/x86_64-linux-gnu/qemu" "$loader" "$libs" "$dir/qemu/usr/bin/qemu-system-x86_64" "$dir/qemu/usr/share/qemu" > bin/qemu-system-x86_64
else
  printf '#!/bin/sh\nQEMU_MODULE_DIR="%s" LD_LIBRARY_PATH="%s" exec "%s" -L "%s" "$@"\n' "$dir/qemu/usr/lib/x86_64-linux-gnu/qemu" "$libs" "$dir/qemu/usr/bin/qemu-system-x86_64" "$dir/qemu/usr/share/qemu" > bin/qemu-system-x86_64
fi
chmod +x bin/qemu-system-x86_64
QEMU="$dir/bin/qemu-system-x86_64"
"$QEMU" -device help 2>&1 | grep -q '"xen-disk"' \
  || { echo "peer: $QEMU does not run or has no xen-disk:" >&2; "$QEMU" -device help 2>&1 | tail -3 >&2; exit 1; }

# The guest's disk measurer (diskbench.c), static: Debian's fio links 60-odd libraries (ceph, gluster, rdma, pmem:
# ~80 MB) that would make the initramfs, and every boot under emulation, many times larger for both VMMs.
# pingpong.c: the guest's own cross-vCPU event round trip. netbench.c: TCP round trips and streams over the PV NIC,
# the guest's end and the host's (run.sh serves with the same binary).
for prog in diskbench pingpong netbench; do
  gcc -O2 -static -Wall -Werror -o "$prog" "$here/$prog.c" || { echo "peer: cannot build $prog (gcc, libc6-dev)" >&2; exit 1; }
done

# The guest's initramfs: busybox, diskbench, pingpong, netbench, the PV disk and NIC modules, ./init.
pkg=$(cat "$guest/package")
rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev initramfs/tmp initramfs/lib/modules
cp /bin/busybox initramfs/bin/
cp diskbench pingpong netbench initramfs/bin/
for m in crc16 mbcache jbd2 crc32c_generic ext4 xen-blkfront xen-netfront; do cp "$guest/modules/$m.ko" initramfs/lib/modules/; done
cp "$here/init" initramfs/init
chmod +x initramfs/init
(cd initramfs && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -6 > ../initrd.gz)
rm -rf initramfs
cp "$guest/vmlinuz" vmlinuz
echo "peer: QEMU $(cat qemu/suite), $pkg ready in $dir"
