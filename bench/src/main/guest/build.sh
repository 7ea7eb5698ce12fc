#!/bin/sh
# Builds the KVM benchmark guests from source into $1: bench-bare.elf for the C reference VMM (kvmref.c) and
# bench-xen.elf for jxen (on the xen32 test-guest library of vmm/src/test/c). No binary is committed.
set -eu
out="$1"
src="$(dirname "$0")"
lib="$src/../../../../vmm/src/test/c"
flags="-m32 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -fno-pic -fno-stack-protector -no-pie -mno-red-zone \
  -fno-asynchronous-unwind-tables -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,$lib/guest.ld"
mkdir -p "$out"
gcc $flags -Wl,-e,_start -o "$out/bench-bare.elf" "$src/bench_bare.c"
gcc $flags -I"$lib" -I"$src" -o "$out/bench-xen.elf" "$lib/xen32.c" "$src/bench_xen.c"
