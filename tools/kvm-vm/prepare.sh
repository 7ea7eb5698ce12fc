#!/bin/sh
# Prepares the KVM-in-TCG VM (see README.md) into ${1:-/var/tmp/jxen-kvm-vm}. Idempotent.
set -eu
dir="${1:-/var/tmp/jxen-kvm-vm}"
here="$(cd "$(dirname "$0")" && pwd)"
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx cpio || need="$need busybox-static"
command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || need="$need kmod"
command -v xz >/dev/null || need="$need xz-utils"
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need="$need iproute2" # the NIC test configures a TAP inside the VM
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then echo "kvm-vm: missing$need (install as root)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
mkdir -p "$dir"
cd "$dir"
# Debian's newest 6.12 kernel (CONFIG_KVM_XEN: its KVM offers KVM_CAP_XEN_HVM), else 6.1; kernel/package names the
# one prepared, so a newer package (or a first 6.12) replaces it.
newest_612() { apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64(-unsigned)?$' | cut -d' ' -f1 | sort -V | tail -1; }
pkg=$(newest_612)
if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then apt-get update -qq && pkg=$(newest_612); fi # stale package lists
[ -n "$pkg" ] || pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -1)
if [ -z "$pkg" ] && [ -f kernel/vmlinuz ]; then pkg=$(sed 's/:.*//' kernel/package 2>/dev/null || echo cached); fi
[ -n "$pkg" ] || { echo "kvm-vm: no Debian 6.12 or 6.1 kernel package found (apt-get update?)" >&2; exit 1; }
# The modules the VM loads (its init's list): a change to it prepares the VM again.
vm_mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p irqbypass ccp kvm kvm-amd tun"
key="$pkg: $vm_mods"
if [ ! -f kernel/vmlinuz ] || [ "$(cat kernel/package 2>/dev/null)" != "$key" ]; then
  rm -rf pkg kernel initrd && mkdir -p pkg kernel
  (cd pkg && apt-get download "$pkg" >/dev/null 2>&1) || { echo "kvm-vm: cannot download $pkg" >&2; exit 1; }
  dpkg -x pkg/*.deb pkg/root
  ver=$(ls pkg/root/lib/modules)
  mods="$dir/pkg/root/lib/modules/$ver/kernel"
  mkdir -p initrd/bin initrd/proc initrd/sys initrd/dev initrd/host initrd/mods
  cp /bin/busybox initrd/bin/
  # Each module the VM needs, wherever this kernel keeps it; 6.12 ships them xz-compressed, and builds some in
  # (virtio) or folds them into others (fscache into netfs): those are simply absent.
  for m in $vm_mods; do
    f=$(find "$mods" \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -1)
    [ -n "$f" ] || continue
    case "$f" in
      *.xz) xz -dc "$f" > "initrd/mods/$m.ko" ;;
      *) cp "$f" "initrd/mods/$m.ko" ;;
    esac
  done
  cp pkg/root/boot/vmlinuz-* kernel/vmlinuz
  echo "$key" > kernel/package
  rm -rf pkg
fi
cp "$here/init" initrd/init
chmod +x initrd/init
(cd initrd && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../kernel/initrd.gz)
echo "kvm-vm: ready in $dir"
