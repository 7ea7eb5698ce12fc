#!/bin/sh
# Runs a command inside the KVM-in-TCG VM (see README.md); prints its output and exits with its status.
set -eu
dir="${JXEN_KVM_VM:-/var/tmp/jxen-kvm-vm}"
[ -f "$dir/kernel/vmlinuz" ] && [ -f "$dir/kernel/initrd.gz" ] || { echo "kvm-vm: not prepared (run tools/kvm-vm/prepare.sh as root)" >&2; exit 125; }
job=$(mktemp -d "$dir/job.XXXXXX")
trap 'rm -rf "$job"' EXIT
{
  echo "cd '$(pwd)'"
  printf 'exec'
  for a in "$@"; do printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"; done
  echo
} > "$job/job.sh"
timeout "${JXEN_KVM_VM_TIMEOUT:-1800}" qemu-system-x86_64 -accel tcg,thread=single \
  -cpu qemu64,+svm,+npt,+ssse3,+sse4.1,+sse4.2,+popcnt -smp 2 -m 4096 \
  -kernel "$dir/kernel/vmlinuz" -initrd "$dir/kernel/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 jxenjob=$job" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,id=hostroot,multidevs=remap \
  -nographic -no-reboot -monitor none </dev/null | tr -d '\r' | grep -av -e '^\s*$' -e 'SeaBIOS' -e 'iPXE' -e 'Booting from' -e 'Press Ctrl-B' -e 'reboot: Power down' | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g' || true
[ -f "$job/status" ] || { echo "kvm-vm: the VM ended without the command's status" >&2; exit 125; }
exit "$(cat "$job/status")"
