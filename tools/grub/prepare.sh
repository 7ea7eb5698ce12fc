#!/bin/sh
# Prepares Debian's own PVH GRUB (issue 33) into ${1:-/var/tmp/jxen-grub}: grub-i386-xen_pvh.bin from the package
# grub-xen-host (every module built in, a memdisk config that searches /boot/grub/grub.cfg), and the i386-xen_pvh
# modules from grub-xen-bin (for grub-mkimage -O i386-xen_pvh), unmodified, unpacked with dpkg -x (nothing
# installed). Idempotent: the package versions are kept in versions and the download is skipped when they match.
set -eu
dir="${1:-/var/tmp/jxen-grub}"
mkdir -p "$dir"
cd "$dir"
want=""
for p in grub-xen-host grub-xen-bin; do
  v=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "grub: no package $p known to apt (apt-get update?)" >&2; exit 1; }
  want="$want$p=$v
"
done
if [ "$(cat versions 2>/dev/null)
" != "$want" ] || [ ! -f root/usr/lib/grub-xen/grub-i386-xen_pvh.bin ]; then
  rm -rf pkg root && mkdir pkg
  (cd pkg && apt-get download grub-xen-host grub-xen-bin >/dev/null 2>&1) \
    || { echo "grub: cannot download grub-xen-host and grub-xen-bin" >&2; exit 1; }
  for deb in pkg/*.deb; do dpkg -x "$deb" root; done
  rm -rf pkg
  [ -f root/usr/lib/grub-xen/grub-i386-xen_pvh.bin ] || { echo "grub: grub-xen-host has no grub-i386-xen_pvh.bin" >&2; exit 1; }
  printf '%s' "$want" > versions
fi
ln -sf root/usr/lib/grub-xen/grub-i386-xen_pvh.bin grub-i386-xen_pvh.bin
echo "grub: $(tr '\n' ' ' < versions)ready in $dir (grub-i386-xen_pvh.bin, modules in root/usr/lib/grub/i386-xen_pvh)"
