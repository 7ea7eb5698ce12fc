#!/bin/sh
# Runs "$@" inside tools/kvm-vm (as run.sh's command) the way a system that switch_root'ed into the host's file system
# runs it, not in the chroot the VM's init uses: a chrooted process may not create a user namespace (clone(2):
# EPERM "in a chroot environment"), which passt (jxen's --net user) does for itself. From PID 1's root (the VM's
# initramfs) a private mount namespace gets the host's 9p tree moved onto "/" and is entered by chroot; the working
# directory stays. The 9p tree cannot hold a UNIX socket, so XDG_RUNTIME_DIR (where jxen puts passt's socket) is a
# directory on the VM's devtmpfs that the user passt runs as, when started as root (nobody), may pass through.
set -eu
if [ "${JXEN_SWITCHED_ROOT:-}" != 1 ]; then
  mkdir -p -m 711 /dev/jxen-runtime
  script=$(readlink -f "$0")
  exec nsenter -t 1 -r -w /bin/busybox unshare -m /bin/busybox sh -c \
    'cd /host && mount -o move . / && exec chroot . /usr/bin/env JXEN_SWITCHED_ROOT=1 /bin/sh "$@"' switch-root "$script" "$PWD" "$@"
fi
cd "$1"
shift
export XDG_RUNTIME_DIR=/dev/jxen-runtime
exec "$@"
