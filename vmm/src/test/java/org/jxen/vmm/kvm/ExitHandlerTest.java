package org.jxen.vmm.kvm;

import static org.junit.jupiter.api.Assertions.*;
import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;
import org.jxen.engine.abi.Errno;
import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.evtchn.DomainConfig;
import org.jxen.engine.evtchn.GuestDomain;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.XenVersion;
import org.jxen.sys.kvm.KvmRun;
import org.jxen.vmm.cpu.HypercallPage;
import org.jxen.vmm.cpu.XenMsrs;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The vCPU exit handling on a kvm_run area filled as KVM fills it (no /dev/kvm needed): hypercalls through the
 * synced registers in both conventions and from user mode, console ports, unbacked port I/O and MMIO, MSRs, and the
 * exits that end a run.
 */
class ExitHandlerTest {
    private static final long DATA = 4096; // where KVM puts port I/O data: the page after struct kvm_run

    private final MemorySegment area = Arena.ofAuto().allocate(2 * 4096, 4096);
    private final KvmRun run = new KvmRun(area);
    private final GuestMemory ram = new GuestMemory(Arena.ofAuto().allocate(1 << 20, 4096));
    private final GuestDomain guest = new GuestDomain(DomainConfig.of(1));
    private final ByteArrayOutputStream console = new ByteArrayOutputStream();
    private final HypercallDispatcher dispatcher = new HypercallDispatcher(true);
    private final ExitCounts exits = new ExitCounts();
    private final ExitHandler handler = new ExitHandler(ram, dispatcher, new XenMsrs(ram, guest), console, new IoPorts(), 0, exits);

    {
        dispatcher.register(Hypercall.XEN_VERSION, new XenVersion(new byte[16])::handle);
    }

    private void io(boolean out, int port, int size, byte... data) {
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_IO);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_DIRECTION, (byte) (out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN));
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_SIZE, (byte) size);
        area.set(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_RUN_IO_PORT, (short) port);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_IO_COUNT, Math.max(1, data.length / size));
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_IO_DATA_OFFSET, DATA);
        MemorySegment.copy(MemorySegment.ofArray(data), 0, area, DATA, data.length);
    }

    private void mode(boolean longMode, boolean csLong, int cpl) {
        long s = OFFSETOF_KVM_RUN_SREGS;
        area.set(ValueLayout.JAVA_LONG, s + OFFSETOF_KVM_SREGS_EFER, longMode ? PagingState.EFER_LMA | PagingState.EFER_LME : 0);
        area.set(ValueLayout.JAVA_LONG, s + OFFSETOF_KVM_SREGS_CR0, PagingState.CR0_PE);
        area.set(ValueLayout.JAVA_BYTE, s + OFFSETOF_KVM_SREGS_CS + OFFSETOF_KVM_SEGMENT_L, (byte) (csLong ? 1 : 0));
        area.set(ValueLayout.JAVA_BYTE, s + OFFSETOF_KVM_SREGS_SS + OFFSETOF_KVM_SEGMENT_DPL, (byte) cpl);
    }

    @Test
    void hypercallResultGoesToRaxThroughTheSyncedRegisters() {
        mode(true, true, 0);
        run.setReg(KvmRun.RAX, Hypercall.XEN_VERSION);
        run.setReg(KvmRun.RDI, XenVersion.VERSION);
        io(true, HypercallPage.PORT, 4, new byte[4]);
        assertNull(handler.handle(run));
        assertEquals((XenVersion.MAJOR << 16) | XenVersion.MINOR, run.reg(KvmRun.RAX));
        assertEquals(KVM_SYNC_X86_REGS, area.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_KVM_DIRTY_REGS) & KVM_SYNC_X86_REGS);
        // A 32-bit code segment in a long-mode guest: EBX carries the command, the upper halves are ignored.
        mode(true, false, 0);
        run.setReg(KvmRun.RAX, 0xFFFF_FFFF_0000_0000L | Hypercall.XEN_VERSION);
        run.setReg(KvmRun.RBX, 0x1234_5678_0000_0000L | XenVersion.VERSION);
        run.setReg(KvmRun.RDI, 99);
        io(true, HypercallPage.PORT, 4, new byte[4]);
        handler.handle(run);
        assertEquals((XenVersion.MAJOR << 16) | XenVersion.MINOR, run.reg(KvmRun.RAX));
        // From user mode: -EPERM, as Xen answers an HVM guest's CPL3 hypercall; in 32-bit mode, zero-extended.
        mode(false, false, 3);
        run.setReg(KvmRun.RAX, Hypercall.XEN_VERSION);
        io(true, HypercallPage.PORT, 4, new byte[4]);
        handler.handle(run);
        assertEquals(Integer.toUnsignedLong(-Errno.EPERM), run.reg(KvmRun.RAX));
        // An unknown number: -ENOSYS.
        mode(true, true, 0);
        run.setReg(KvmRun.RAX, 63);
        io(true, HypercallPage.PORT, 4, new byte[4]);
        handler.handle(run);
        assertEquals(-Errno.ENOSYS, run.reg(KvmRun.RAX));
        assertEquals(4, dispatcher.calls());
    }

    @Test
    void pvclockIsRepublishedOnlyWhenSharedStateMoves() {
        AtomicInteger republished = new AtomicInteger();
        handler.afterPlacement(republished::incrementAndGet);
        mode(true, true, 0);
        int[][] calls = {{Hypercall.XEN_VERSION, 0}, {Hypercall.MEMORY_OP, 7 /* add_to_physmap */},
                {Hypercall.VCPU_OP, 10 /* register_vcpu_info */}, {Hypercall.VCPU_OP, 8 /* set_singleshot_timer */},
                {Hypercall.MEMORY_OP, 9 /* memory_map */}};
        for (int[] c : calls) {
            run.setReg(KvmRun.RAX, c[0]);
            run.setReg(KvmRun.RDI, c[1]);
            io(true, HypercallPage.PORT, 4, new byte[4]);
            handler.handle(run);
        }
        assertEquals(2, republished.get(), "add_to_physmap and register_vcpu_info only, not the timer");
    }

    @Test
    void consolePortsReachTheConsoleAndOtherPortsReadAllOnes() {
        io(true, ExitHandler.DEBUGCON, 1, (byte) 'h', (byte) 'i');
        assertNull(handler.handle(run));
        io(true, ExitHandler.XEN_DEBUG_PORT, 1, (byte) '!');
        handler.handle(run);
        io(true, ExitHandler.COM1, 1, (byte) '\n');
        handler.handle(run);
        io(true, 0x80, 1, (byte) 'x'); // POST code port: ignored
        handler.handle(run);
        assertEquals("hi!\n", console.toString());
        io(false, ExitHandler.COM1_LSR, 1, (byte) 0);
        handler.handle(run);
        assertEquals(0x60, area.get(ValueLayout.JAVA_BYTE, DATA));
        io(false, 0x61, 2, (byte) 0, (byte) 0);
        handler.handle(run);
        assertEquals((short) 0xFFFF, area.get(ValueLayout.JAVA_SHORT_UNALIGNED, DATA));
        // A 2-byte out to the hypercall port is not a hypercall.
        run.setReg(KvmRun.RAX, 5);
        io(true, HypercallPage.PORT, 2, (byte) 0, (byte) 0);
        handler.handle(run);
        assertEquals(5, run.reg(KvmRun.RAX));
        assertEquals(0, dispatcher.calls());
    }

    @Test
    void unbackedMmioReadsAllOnesAndIgnoresWrites() {
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_MMIO);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_PHYS_ADDR, 0xFED0_0000L); // HPET
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MMIO_LEN, 4);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MMIO_IS_WRITE, (byte) 0);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_DATA, 0);
        assertNull(handler.handle(run));
        assertEquals(0xFFFF_FFFFL, area.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_DATA));
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MMIO_LEN, 1 << 20); // a hostile length stays inside data[8]
        assertNull(handler.handle(run));
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MMIO_IS_WRITE, (byte) 1);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_DATA, 0x1234);
        assertNull(handler.handle(run));
        assertEquals(0x1234, area.get(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MMIO_DATA));
    }

    private void msrExit(int reason, int index, long data) {
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, reason);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MSR_INDEX, index);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MSR_DATA, data);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR, (byte) 7);
    }

    @Test
    void hypercallMsrFillsThePageAndEverythingElseIsAGeneralProtectionFault() {
        mode(true, true, 0);
        msrExit(KVM_EXIT_X86_WRMSR, 0x4000_0000, 0x5000);
        assertNull(handler.handle(run));
        assertEquals(0, area.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR));
        assertEquals((byte) 0xB8, ram.segment().get(ValueLayout.JAVA_BYTE, 0x5000));
        msrExit(KVM_EXIT_X86_RDMSR, 0x4000_0000, 0);
        handler.handle(run);
        assertEquals(1, area.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR), "#GP");
        msrExit(KVM_EXIT_X86_WRMSR, 0xC000_1234, 1);
        handler.handle(run);
        assertEquals(1, area.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR));
    }

    @Test
    void exitsThatEndTheRun() {
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_SHUTDOWN);
        assertEquals(RunOutcome.GUEST_FAULT, handler.handle(run).status());
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_FAIL_ENTRY);
        assertTrue(handler.handle(run).reason().contains("entry failed"));
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_SYSTEM_EVENT);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_SYSTEM_EVENT_TYPE, KVM_SYSTEM_EVENT_RESET);
        assertEquals(RunOutcome.REBOOT, handler.handle(run).status());
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, 99);
        assertTrue(handler.handle(run).reason().startsWith("unhandled KVM exit 99"));
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_INTR);
        assertNull(handler.handle(run));
    }

    @Test
    void everyExitIsCountedByItsKind() {
        mode(true, true, 0);
        run.setReg(KvmRun.RAX, Hypercall.XEN_VERSION);
        io(true, HypercallPage.PORT, 4, new byte[4]);
        handler.handle(run);
        io(true, HypercallPage.PORT, 2, (byte) 0, (byte) 0); // not a hypercall: some other port write
        handler.handle(run);
        io(true, ExitHandler.DEBUGCON, 1, (byte) 'x');
        handler.handle(run);
        io(false, ExitHandler.COM1_LSR, 1, (byte) 0);
        handler.handle(run);
        for (int port : new int[] {0xCF8, 0xCFC, 0xCFE}) {
            io(false, port, 2, (byte) 0, (byte) 0); // a Linux guest probing for PCI
            handler.handle(run);
        }
        io(false, 0xCF7, 1, (byte) 0);
        handler.handle(run);
        for (int i = 0; i < 2; i++) {
            io(false, 0x42, 1, (byte) 0); // the PIT's channel 2, which Linux polls to calibrate its clock
            handler.handle(run);
        }
        msrExit(KVM_EXIT_X86_RDMSR, 0x4000_0000, 0);
        handler.handle(run);
        msrExit(KVM_EXIT_X86_WRMSR, 0x4000_0000, 0x5000);
        handler.handle(run);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_MMIO);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MMIO_LEN, 4);
        handler.handle(run);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_INTR);
        handler.handle(run);
        handler.handle(run);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_SHUTDOWN);
        handler.handle(run);

        assertEquals(1, exits.of(ExitCounts.Kind.HYPERCALL_PAGE));
        assertEquals(2, exits.of(ExitCounts.Kind.CONSOLE_IO));
        assertEquals(3, exits.of(ExitCounts.Kind.PCI_CONFIG_IO));
        assertEquals(4, exits.of(ExitCounts.Kind.OTHER_IO), "the 2-byte out to the hypercall port, 0xCF7 and 0x42 twice");
        assertEquals(1, exits.of(ExitCounts.Kind.MSR_READ));
        assertEquals(1, exits.of(ExitCounts.Kind.MSR_WRITE));
        assertEquals(1, exits.of(ExitCounts.Kind.MMIO));
        assertEquals(2, exits.of(ExitCounts.Kind.INTERRUPTED));
        assertEquals(1, exits.of(ExitCounts.Kind.FINAL));
        assertEquals(0, exits.of(ExitCounts.Kind.XEN_HYPERCALL));
        assertEquals(16L, exits.figures().get("total"));
        assertEquals(3L, exits.figures().get("pci-config-io"));
        Map<?, ?> ports = (Map<?, ?>) exits.figures().get("busiest-unbacked-ports");
        assertEquals(Map.of("0x42", 2L, "0xcf8", 1L, "0xcfc", 1L, "0xcfe", 1L, "others", 1L, "0x5a", 1L), ports,
                "the unbacked ports by exits: a 2-byte out to the hypercall port is one, 0xCF7 is among the others; hypercalls and the console are not");
        assertEquals("0x42", ports.keySet().iterator().next(), "the busiest first");
    }
}
