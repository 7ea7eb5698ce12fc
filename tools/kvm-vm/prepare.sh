#!/bin/sh
# Prepares the KVM-in-TCG VM (see README.md) into ${1:-/var/tmp/jxen-kvm-vm}. Idempotent.
set -eu
dir="${1:-/var/tmp/jxen-kvm-vm}"
here="$(cd "$(dirname "$0")" && pwd)"
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx cpio || need="$need busybox-static"
command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || need="$need kmod"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then echo "kvm-vm: missing$need (install as root)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f kernel/vmlinuz ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -1)
  [ -n "$pkg" ] || { echo "kvm-vm: no Debian 6.1 kernel package found" >&2; exit 1; }
  rm -rf pkg kernel && mkdir -p pkg kernel
  (cd pkg && apt-get download "$pkg" >/dev/null 2>&1)
  dpkg -x pkg/*.deb pkg/root
  ver=$(ls pkg/root/lib/modules)
  mods="$dir/pkg/root/lib/modules/$ver/kernel"
  mkdir -p initrd/bin initrd/proc initrd/sys initrd/dev initrd/host initrd/mods
  cp /bin/busybox initrd/bin/
  for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
           drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet net/9p/9pnet_virtio \
           fs/netfs/netfs fs/fscache/fscache fs/9p/9p virt/lib/irqbypass drivers/crypto/ccp/ccp \
           arch/x86/kvm/kvm arch/x86/kvm/kvm-amd; do
    cp "$mods/$m.ko" initrd/mods/
  done
  cp pkg/root/boot/vmlinuz-* kernel/vmlinuz
  rm -rf pkg
fi
cp "$here/init" initrd/init
chmod +x initrd/init
(cd initrd && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../kernel/initrd.gz)
echo "kvm-vm: ready in $dir"
