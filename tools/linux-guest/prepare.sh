#!/bin/sh
# Prepares the Linux guest (README.md, issue 19) into ${1:-/var/tmp/jxen-linux-guest}: Debian's own 6.12 kernel,
# unmodified (the bzImage of the package tools/kvm-vm boots, or the newest 6.12 package), and a busybox initramfs
# whose init (./init) reports what it sees of Xen, exercises its PV disks and NIC when asked, and powers off.
# Idempotent; needs busybox-static and xz-utils.
set -eu
dir="${1:-/var/tmp/jxen-linux-guest}"
here="$(cd "$(dirname "$0")" && pwd)"
vm="${JXEN_KVM_VM:-/var/tmp/jxen-kvm-vm}"
[ -x /bin/busybox ] || { echo "linux-guest: needs busybox-static (/bin/busybox)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
if [ -f "$vm/kernel/vmlinuz" ] && grep -q '^linux-image-6\.12' "$vm/kernel/package" 2>/dev/null; then
  pkg=$(sed 's/:.*//' "$vm/kernel/package")
  [ "$(cat package 2>/dev/null)" = "$pkg" ] || { cp "$vm/kernel/vmlinuz" vmlinuz; echo "$pkg" > package; }
else
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64(-unsigned)?$' | cut -d' ' -f1 | sort -V | tail -1)
  [ -n "$pkg" ] || { [ -f vmlinuz ] && pkg=$(cat package); } || { echo "linux-guest: no Debian 6.12 kernel package (apt-get update?)" >&2; exit 1; }
  if [ "$(cat package 2>/dev/null)" != "$pkg" ]; then
    rm -rf pkg && mkdir pkg
    (cd pkg && apt-get download "$pkg" >/dev/null 2>&1) || { echo "linux-guest: cannot download $pkg" >&2; exit 1; }
    dpkg -x pkg/*.deb pkg/root
    cp pkg/root/boot/vmlinuz-* vmlinuz
    echo "$pkg" > package
    rm -rf pkg
  fi
fi
# The PV disk and NIC drivers and ext4 (which mounts the ext2 busybox's mke2fs makes) are modules in Debian's
# package: the guest's init loads them. They come from the package itself, cached in modules/ with its name.
mods="crc16 mbcache jbd2 crc32c_generic ext4 xen-blkfront xen-netfront"
if [ "$(cat modules/package 2>/dev/null)" != "$pkg" ]; then
  rm -rf pkg modules && mkdir -p pkg modules
  (cd pkg && apt-get download "$pkg" >/dev/null 2>&1) || { echo "linux-guest: cannot download $pkg (for its modules)" >&2; exit 1; }
  dpkg -x pkg/*.deb pkg/root
  for m in $mods; do
    f=$(find pkg/root/lib/modules -name "$m.ko.xz" -o -name "$m.ko" | head -1)
    [ -n "$f" ] || { echo "linux-guest: $pkg has no module $m" >&2; exit 1; }
    case "$f" in *.xz) xz -dc "$f" > "modules/$m.ko" ;; *) cp "$f" "modules/$m.ko" ;; esac
  done
  echo "$pkg" > modules/package
  rm -rf pkg
fi
rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev initramfs/mnt initramfs/lib/modules
cp /bin/busybox initramfs/bin/
for m in $mods; do cp "modules/$m.ko" initramfs/lib/modules/; done
cp "$here/init" initramfs/init
chmod +x initramfs/init
(cd initramfs && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -9 > ../initrd.gz)
rm -rf initramfs
echo "linux-guest: $pkg ready in $dir"
