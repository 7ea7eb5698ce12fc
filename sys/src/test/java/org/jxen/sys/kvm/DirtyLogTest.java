package org.jxen.sys.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.jxen.sys.Libc;

/**
 * KVM's dirty log on this host's /dev/kvm: a real-mode guest stores to two pages and halts; those pages, and only
 * those, are logged; a second fetch finds nothing; a later store to a third page logs only it (the pages fetched were
 * protected again). Writes through the host mapping are not logged.
 */
@Tag("kvm")
class DirtyLogTest {
    private static final int PAGES = 64;

    @Test
    void theGuestsStoresAreLoggedAndFetchedOnce() throws KvmUnavailableException {
        assumeTrue(Kvm.present(), "no /dev/kvm on this machine");
        try (Kvm kvm = Kvm.open(); KvmVm vm = kvm.createVm(); Arena arena = Arena.ofShared()) {
            MemorySegment ram = Libc.mmap(arena, PAGES * 4096L, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            vm.setMemory(0, 0, ram);
            // mov byte [0x3000], 1; mov byte [0x5000], 1; hlt  — then at 0x1010: mov byte [0x7000], 1; hlt
            byte[] first = {(byte) 0xC6, 0x06, 0x00, 0x30, 0x01, (byte) 0xC6, 0x06, 0x00, 0x50, 0x01, (byte) 0xF4};
            byte[] second = {(byte) 0xC6, 0x06, 0x00, 0x70, 0x01, (byte) 0xF4};
            MemorySegment.copy(first, 0, ram, ValueLayout.JAVA_BYTE, 0x1000, first.length);
            MemorySegment.copy(second, 0, ram, ValueLayout.JAVA_BYTE, 0x1010, second.length);
            try (DirtyLog log = DirtyLog.start(vm, 0, 0, ram); KvmVcpu vcpu = vm.createVcpu(0)) {
                System.out.println("dirty log: manual protection (KVM_CLEAR_DIRTY_LOG) " + (log.manualProtect() ? "in use" : "not offered"));
                ram.set(ValueLayout.JAVA_BYTE, 0x9000, (byte) 1); // the host's own write: KVM cannot see it
                runRealMode(vcpu, 0x1000);
                assertEquals(List.of(3L, 5L), dirtyPages(log.fetch()), "the pages the guest wrote");
                assertEquals(List.of(), dirtyPages(log.fetch()), "fetched once, clean until written again");
                runRealMode(vcpu, 0x1010);
                assertEquals(List.of(7L), dirtyPages(log.fetch()), "only the page written since");
                assertEquals(1, ram.get(ValueLayout.JAVA_BYTE, 0x7000));
                log.stop();
                assertThrows(IllegalStateException.class, log::fetch);
            }
        }
    }

    private static void runRealMode(KvmVcpu vcpu, int ip) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(SIZEOF_KVM_SREGS, 8);
            vcpu.getSregs(sregs);
            sregs.set(ValueLayout.JAVA_LONG, 0, 0L); // cs.base (struct kvm_segment cs is kvm_sregs' first field)
            sregs.set(ValueLayout.JAVA_SHORT, 12, (short) 0); // cs.selector
            vcpu.setSregs(sregs);
            MemorySegment regs = a.allocate(SIZEOF_KVM_REGS, 8);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RIP, ip);
            regs.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_REGS_RFLAGS, 2);
            vcpu.setRegs(regs);
        }
        KvmRun run = new KvmRun(vcpu.runArea());
        int rc = vcpu.enter();
        assertEquals(0, rc, "KVM_RUN");
        assertEquals(KVM_EXIT_HLT, run.exitReason(), "exit reason");
    }

    private static List<Long> dirtyPages(long[] bitmap) {
        List<Long> pages = new ArrayList<>();
        for (int w = 0; w < bitmap.length; w++)
            for (int b = 0; b < 64; b++) if ((bitmap[w] & 1L << b) != 0) pages.add(64L * w + b);
        return pages;
    }
}
