#!/bin/sh
# Builds a Debian bookworm disk image as a Xen user has one (issue 33): an MBR with one Linux partition holding an ext4
# root made with debootstrap from Debian's packages: systemd and udev, systemd-networkd with DHCP on every ethernet
# (systemd-resolved for the names DHCP gives), Debian's 6.12 kernel (linux-image-6.12-amd64, bookworm-security) with
# the initramfs initramfs-tools makes for it (MODULES=most: xen-blkfront and xen-netfront are in it, checked below),
# a getty on hvc0 (console=hvc0: systemd's getty generator starts serial-getty@hvc0), /etc/fstab by UUID, and
# /boot/grub/grub.cfg written by the image's own grub-mkconfig (update-grub, package grub2-common) as it runs in a
# Xen domU booted by PVH GRUB.
#
#   sudo tools/images/debian.sh OUT.img [--size 2G] [--hostname NAME]
#   ./jxen run --disk OUT.img --vcpus 2 --memory 1024
#
# Login: root with an EMPTY password, on the console only. The console is reachable by whoever runs jxen and nobody
# else; the image has no SSH server (and OpenSSH refuses empty passwords by default, PermitEmptyPasswords no), so
# nothing on the network can log in. Set a password (passwd) before giving the guest a network others reach.
#
# The image is made without loop devices or mounts: sfdisk writes the partition table into the file and mke2fs -d
# fills the file system from a directory at the partition's offset (-E offset=). debootstrap and apt inside the root
# need /proc, /sys and /dev there: those mounts live in a private mount namespace (unshare -m) and vanish with it.
# The root tree is cached in ${JXEN_IMAGES:-/var/tmp/jxen-images}/debian-bookworm, rebuilt when the package set
# changes (its key) or the archive has a newer kernel; each image gets new UUIDs, fstab and grub.cfg.
set -eu
die() { echo "debian.sh: $*" >&2; exit 1; }
out="" size=2G hostname=debian
while [ $# -gt 0 ]; do
  case "$1" in
    --size) [ $# -ge 2 ] || die "--size needs a value (e.g. 2G)"; size="$2"; shift 2 ;;
    --hostname) [ $# -ge 2 ] || die "--hostname needs a value"; hostname="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (usage: debian.sh OUT.img [--size 2G] [--hostname NAME])" ;;
    *) [ -z "$out" ] || die "one output image only (got $out and $1)"; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || die "usage: debian.sh OUT.img [--size 2G] [--hostname NAME]"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot)"
bytes=$(numfmt --from=iec "$size" 2>/dev/null) || die "--size $size: not a size (e.g. 2G, 1536M)"
[ "$bytes" -ge $((1024 * 1024 * 1024)) ] || die "--size $size: at least 1G (the root with the kernel takes ~600 MiB)"
[ ! -e "$out" ] || [ -f "$out" ] || die "$out exists and is not a regular file"

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# minbase plus what a domU needs to boot, log in and get an address; grub2-common gives update-grub (and its
# kernel hooks, /etc/kernel/postinst.d/zz-update-grub), not a boot loader: PVH GRUB comes from the host as Xen's does.
include="systemd-sysv,udev,dbus,systemd-resolved,initramfs-tools,zstd,kmod,iproute2,iputils-ping,procps,netbase,less"
later="linux-image-6.12-amd64 grub2-common"
need=""
command -v debootstrap >/dev/null || need="$need debootstrap"
command -v sfdisk >/dev/null || need="$need fdisk"
command -v mke2fs >/dev/null || need="$need e2fsprogs"
command -v unshare >/dev/null || need="$need util-linux"
if [ -n "$need" ]; then
  apt-get install -y -qq $need >/dev/null 2>&1 || die "cannot install$need (apt-get update?)"
fi
case "$(mke2fs -V 2>&1 | sed -n 's/^mke2fs \([0-9.]*\).*/\1/p')" in 1.4[3-9]*|1.[5-9]*) ;; *) die "mke2fs too old for -d and -E offset= (e2fsprogs >= 1.43)" ;; esac

cache="${JXEN_IMAGES:-/var/tmp/jxen-images}/debian-bookworm"
mkdir -p "$cache"
root="$cache/root"
key="bookworm $mirror $security: $include; $later; v1"

# Runs a command chrooted in $1 with /proc, /sys, /dev and /run mounted in a private mount namespace (gone when it
# ends). With domu_dev set (a file system UUID) /dev is not the host's but the domU's as udev makes it: xvda, xvda1
# (block major 202, xen-blkfront's) and /dev/disk/by-uuid, which grub-mkconfig looks at to name the root by UUID.
in_root() {
  r="$1"; shift
  unshare --mount --propagation private sh -c '
    r="$1"; shift
    mount -t proc proc "$r/proc" && mount -t sysfs sysfs "$r/sys" && mount -t tmpfs tmpfs "$r/run" || exit 1
    if [ -n "${domu_dev:-}" ]; then
      mount -t tmpfs tmpfs "$r/dev" || exit 1
      for n in null zero full random urandom tty; do touch "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n" || exit 1; done
      mknod "$r/dev/xvda" b 202 0 && mknod "$r/dev/xvda1" b 202 1 || exit 1
      mkdir -p "$r/dev/disk/by-uuid" && ln -s ../../xvda1 "$r/dev/disk/by-uuid/$domu_dev"
    else
      mount --rbind /dev "$r/dev" || exit 1
    fi
    # /etc/resolv.conf of the image points into /run (systemd-resolved): apt in the chroot uses the host resolver.
    mkdir -p "$r/run/systemd/resolve" && cp /etc/resolv.conf "$r/run/systemd/resolve/stub-resolv.conf"
    exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
  ' in_root "$r" "$@"
}

build_root() {
  tmp="$cache/root.new"
  rm -rf "$tmp"
  mkdir -p "$cache/debs"
  echo "debian.sh: debootstrap bookworm into $tmp (a few minutes)"
  unshare --mount --propagation private debootstrap --variant=minbase --include="$include" --cache-dir="$cache/debs" \
    bookworm "$tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || die "debootstrap failed (log: $cache/debootstrap.log; last line: $(tail -1 "$cache/debootstrap.log"))"
  cat > "$tmp/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
  # No service starts inside the chroot (invoke-rc.d and deb-systemd-invoke ask policy-rc.d).
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod 755 "$tmp/usr/sbin/policy-rc.d"
  # No swap, so no resume device for the initramfs to wait for.
  mkdir -p "$tmp/etc/initramfs-tools/conf.d"
  echo "RESUME=none" > "$tmp/etc/initramfs-tools/conf.d/resume"
  { in_root "$tmp" apt-get update -q && in_root "$tmp" apt-get install -y -q --no-install-recommends $later; } \
    > "$cache/apt.log" 2>&1 || die "installing $later failed (log: $cache/apt.log; last line: $(tail -1 "$cache/apt.log"))"
  in_root "$tmp" apt-get clean
  ver=$(ls "$tmp/lib/modules" | sort -V | tail -1)
  [ -f "$tmp/boot/vmlinuz-$ver" ] && [ -f "$tmp/boot/initrd.img-$ver" ] || die "no kernel or initramfs for $ver in /boot"
  # initramfs-tools' MODULES=most puts the PV disk and NIC drivers in: the root is on xvda.
  for m in xen-blkfront xen-netfront; do
    in_root "$tmp" lsinitramfs "/boot/initrd.img-$ver" | grep -q "/$m\.ko" || die "the initramfs for $ver has no $m"
  done

  # systemd-networkd with DHCP on every ethernet (a PV NIC is eth0 or enX0, by systemd's naming), names by resolved.
  cat > "$tmp/etc/systemd/network/20-ethernet.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=yes
EOF
  in_root "$tmp" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1 \
    || die "cannot enable systemd-networkd and systemd-resolved"
  ln -sf ../run/systemd/resolve/stub-resolv.conf "$tmp/etc/resolv.conf"
  # Booted without a NIC the guest has no network: "online" means any link configured, within 30 s, not all of them
  # forever (the unit otherwise fails after 2 minutes when something waits for network-online.target).
  mkdir -p "$tmp/etc/systemd/system/systemd-networkd-wait-online.service.d"
  cat > "$tmp/etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30
EOF

  in_root "$tmp" passwd -d root >/dev/null || die "cannot clear root's password"
  # A new machine id on the first boot of each image (an empty file: systemd writes one; dbus links to it).
  : > "$tmp/etc/machine-id"
  rm -f "$tmp/var/lib/dbus/machine-id"
  rm -f "$tmp/usr/sbin/policy-rc.d"
  echo "$key" > "$tmp/.jxen-image-key"
  echo "$ver" > "$tmp/.jxen-image-kernel"
  rm -rf "$root"
  mv "$tmp" "$root"
}

newest_kernel() { # the version linux-image-6.12-amd64 depends on now (empty when the archive cannot be asked)
  in_root "$root" apt-get update -qq >/dev/null 2>&1 || return 0
  in_root "$root" apt-cache depends linux-image-6.12-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(6\.12\.[^ ]*-amd64\)$/\1/p' | head -1
}
if [ "$(cat "$root/.jxen-image-key" 2>/dev/null)" != "$key" ]; then
  build_root
else
  want=$(newest_kernel)
  if [ -n "$want" ] && [ "$want" != "$(cat "$root/.jxen-image-kernel")" ]; then
    echo "debian.sh: the archive has $want (cached: $(cat "$root/.jxen-image-kernel")): building the root again"
    build_root
  else
    echo "debian.sh: root tree cached in $root ($(cat "$root/.jxen-image-kernel"))"
  fi
fi
ver=$(cat "$root/.jxen-image-kernel")

# Per image: the file system's UUID, the disk's id, fstab, hostname, grub.cfg.
uuid=$(cat /proc/sys/kernel/random/uuid)
diskid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
partuuid="$diskid-01"
echo "$hostname" > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' "$hostname" > "$root/etc/hosts"
cat > "$root/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$uuid / ext4 errors=remount-ro 0 1
EOF

# grub.cfg by the image's own grub-mkconfig (what update-grub runs), with GRUB's device probing answered for the
# domU: / and /boot are /dev/xvda1, ext4 (GRUB's ext2 module) in an msdos partition table, no abstraction (LVM,
# RAID, crypto). The hints a real domU's grub-probe prints name BIOS disks PVH GRUB does not have (its disks are
# xen/xvda), so none are given: the search by UUID finds the file system, as it does for update-grub's output.
cat > "$root/etc/default/grub" <<'EOF'
# Written by tools/images/debian.sh for a Xen PVH domU booted by PVH GRUB (the host's grub-i386-xen_pvh.bin).
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT=""
# The Xen PV console: the kernel's console and, through systemd's getty generator, the login prompt.
GRUB_CMDLINE_LINUX="console=hvc0"
# A domU has no display: GRUB's menu is on its Xen console.
GRUB_TERMINAL=console
EOF
# The real grub-probe is moved aside (dpkg-divert) while the stand-in answers, and put back after.
divert() { in_root "$root" dpkg-divert --local --rename --divert /usr/sbin/grub-probe.real "$@" /usr/sbin/grub-probe >/dev/null; }
if [ -e "$root/usr/sbin/grub-probe.real" ]; then rm -f "$root/usr/sbin/grub-probe"; divert --remove; fi # an earlier run cut short
divert --add
cat > "$root/usr/sbin/grub-probe" <<EOF
#!/bin/sh
# Stand-in for grub-probe while tools/images/debian.sh runs grub-mkconfig in the image's chroot: answers for the
# domU's root /dev/xvda1. The real grub-probe is /usr/sbin/grub-probe.real until the build puts it back.
target="" device=""
while [ \$# -gt 0 ]; do
  case "\$1" in
    --target=*) target="\${1#--target=}" ;;
    -t|--target) target="\$2"; shift ;;
    --device) device=1 ;;
  esac
  shift
done
case "\$target" in
  device) echo /dev/xvda1 ;;
  fs) echo ext2 ;;
  fs_uuid) echo $uuid ;;
  partuuid) echo $partuuid ;;
  partmap) echo msdos ;;
  abstraction|cryptodisk_uuid|compatibility_hint|hints_string|fs_label) ;;
  drive) echo "(hd0,msdos1)" ;;
  *) echo "grub-probe stand-in: target \$target not known" >&2; exit 1 ;;
esac
EOF
chmod 755 "$root/usr/sbin/grub-probe"
mkdir -p "$root/boot/grub" # grub-install makes it on a machine with a boot loader; here PVH GRUB is the host's
domu_dev=$uuid in_root "$root" grub-mkconfig -o /boot/grub/grub.cfg > "$cache/grub-mkconfig.log" 2>&1 \
  || die "grub-mkconfig failed (log: $cache/grub-mkconfig.log; last line: $(tail -1 "$cache/grub-mkconfig.log"))"
# The real grub-probe back, so update-grub works in the running guest (where it finds /dev/xvda1 itself).
rm -f "$root/usr/sbin/grub-probe"
divert --remove
grep -q "search --no-floppy --fs-uuid --set=root $uuid" "$root/boot/grub/grub.cfg" \
  && grep -q "linux[[:space:]]*/boot/vmlinuz-$ver root=UUID=$uuid ro console=hvc0" "$root/boot/grub/grub.cfg" \
  || die "grub.cfg does not name $ver on UUID $uuid (see $root/boot/grub/grub.cfg)"

# The image: a partition table written into the file, the file system at the partition's offset (sector 2048).
start=2048
rm -f "$out"
truncate -s "$bytes" "$out"
printf 'label: dos\nlabel-id: 0x%s\nstart=%d, type=83, bootable\n' "$diskid" "$start" | sfdisk -q "$out" \
  || die "sfdisk could not partition $out"
sectors=$(sfdisk -l -o Sectors "$out" | tail -1 | tr -d ' ')
# ext4 without metadata_csum_seed and orphan_file, which GRUB 2.06 cannot read.
mke2fs -q -F -t ext4 -O ^metadata_csum_seed,^orphan_file -U "$uuid" -L root -d "$root" \
  -E offset=$((start * 512)) "$out" "$((sectors / 2))k" 2> "$cache/mke2fs.log" \
  || die "mke2fs failed (log: $cache/mke2fs.log; last line: $(tail -1 "$cache/mke2fs.log"))"
echo "debian.sh: $out ready: $(numfmt --to=iec "$bytes"), Debian bookworm, kernel $ver, root UUID=$uuid; root has an empty password"
echo "debian.sh: boot it with ./jxen run --disk $out --vcpus 2 --memory 1024"
