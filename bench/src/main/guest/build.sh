#!/bin/sh
# Builds the KVM benchmark guests from source into $1: bench-bare.elf for the C reference VMM (kvmref.c) and
# bench-xen.elf for jxen. No binary is committed. Both are 64-bit and free of x87/SSE code, so that they run on every
# KVM this project meets (a nested PVM /dev/kvm cannot emulate a 32-bit iret or x87 at CPL0): the build fails if
# either holds a 32-bit iret or an x87 instruction.
set -eu
out="$1"
src="$(dirname "$0")"
lib="$src/../../../../vmm/src/test/c"
ld="$lib/guest.ld"
flags="-m64 -mgeneral-regs-only -mcmodel=small -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -fno-pic \
  -fno-stack-protector -no-pie -mno-red-zone -fno-asynchronous-unwind-tables -Wl,--build-id=none \
  -Wl,--no-warn-rwx-segments -Wl,-T,$ld"
mkdir -p "$out"
gcc $flags -Wl,-e,bench_start -o "$out/bench-bare.elf" "$src/bench_bare.c"
gcc $flags -I"$lib" -Wl,-e,bench_start_bsp -o "$out/bench-xen.elf" "$src/bench_xen.c"
for g in bench-bare bench-xen; do
  # The mnemonic column; objdump shows the 32-bit entry code as 64-bit code, harmlessly: a 32-bit iret still reads "iret".
  bad=$(objdump -d "$out/$g.elf" | awk -F'\t' 'NF >= 3 { split($3, w, " "); if (w[1] ~ /^(iret|iretl|iretw|f[a-z0-9]+)$/) print }')
  if [ -n "$bad" ]; then
    echo "build.sh: $g.elf holds a 32-bit iret or x87 code:" >&2
    echo "$bad" >&2
    exit 1
  fi
done
