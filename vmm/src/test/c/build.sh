#!/bin/sh
# Builds the freestanding test guests from source into $1 (the Maven build calls this; no binary is committed).
set -eu
out="$1"
src="$(dirname "$0")"
mkdir -p "$out"
# -mgeneral-regs-only: no x87 or SSE code (a PVM host cannot emulate x87 at CPL0; gcc otherwise moves 64-bit atomics through fild/fistp).
flags="-mgeneral-regs-only -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -fno-pic -fno-stack-protector -no-pie -mno-red-zone \
  -fno-asynchronous-unwind-tables -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,$src/guest.ld"
gcc -m64 $flags -o "$out/pvh-hello-64.elf" "$src/pvh_hello.c"
gcc -m64 $flags -DNOTE_QUAD -o "$out/pvh-hello-64-quadnote.elf" "$src/pvh_hello.c"
gcc -m32 $flags -o "$out/pvh-hello-32.elf" "$src/pvh_hello.c"
gcc -m32 $flags -DSPIN -o "$out/pvh-spin-32.elf" "$src/pvh_hello.c"
# A 64-bit kernel may ship as an ELF32 file with machine x86-64.
objcopy -O elf32-x86-64 "$out/pvh-hello-64.elf" "$out/pvh-hello-x32.elf"
# Guests built on xen32.h/xen32.c (the hypercall page, IDT, local APIC, shared_info, the upcall loop).
for g in xen events ipi2 fifo xenstore platform grant hostile resume conform direct churn upcall pit; do
  gcc -m32 $flags -I"$src" -o "$out/pvh-$g-32.elf" "$src/xen32.c" "$src/pvh_$g.c"
done
# The same timer stages with VMCALL/VMMCALL timer calls, which KVM's Xen support answers in the kernel (kvm mode only).
gcc -m32 $flags -I"$src" -DDIRECT -o "$out/pvh-upcall-direct-32.elf" "$src/xen32.c" "$src/pvh_upcall.c"
# The PIT guest that is saved and restored between two countdowns (XenDomainTest, --pit).
gcc -m32 $flags -I"$src" -DSAVE -o "$out/pvh-pit-save-32.elf" "$src/xen32.c" "$src/pvh_pit.c"
# A 64-bit guest: ELF64 with a 32-bit PVH entry that switches to long mode.
gcc -m64 $flags -mcmodel=small -I"$src" -o "$out/pvh-long-64.elf" "$src/pvh_long.c"
# A 64-bit guest's singleshot timers against its own pvclock, through the hypercall page and by VMCALL/VMMCALL (kvm mode).
gcc -m64 $flags -mcmodel=small -I"$src" -o "$out/pvh-timer-64.elf" "$src/pvh_timer64.c"
gcc -m64 $flags -mcmodel=small -I"$src" -DDIRECT -o "$out/pvh-timer-direct-64.elf" "$src/pvh_timer64.c"
# A guest live-migrated while KVM keeps its timer, runstate areas and IPIs (kvm mode): 2-level and FIFO events.
gcc -m32 $flags -I"$src" -o "$out/pvh-migrate-live-32.elf" "$src/xen32.c" "$src/pvh_migrate_live.c"
gcc -m32 $flags -I"$src" -DFIFO -o "$out/pvh-migrate-live-fifo-32.elf" "$src/xen32.c" "$src/pvh_migrate_live.c"
# A 64-bit guest that keeps dirtying memory while it is live-migrated.
gcc -m64 $flags -mcmodel=small -I"$src" -o "$out/pvh-migrate-64.elf" "$src/pvh_migrate.c"
