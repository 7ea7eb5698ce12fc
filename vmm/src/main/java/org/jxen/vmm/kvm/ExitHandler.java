package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.jxen.engine.abi.Hypercall;
import org.jxen.engine.hypercall.HypercallArgs;
import org.jxen.engine.hypercall.HypercallDispatcher;
import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.GuestVirtualMemory;
import org.jxen.engine.memory.PageWalker;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.MemoryOp;
import org.jxen.engine.platform.VcpuOp;
import org.jxen.sys.kvm.KvmRun;
import org.jxen.vmm.cpu.HypercallPage;
import org.jxen.vmm.cpu.RefusedInstruction;
import org.jxen.vmm.cpu.XenMsrs;

/**
 * What one vCPU does with each KVM exit. Hypercalls arrive as a 4-byte {@code out} to {@link HypercallPage#PORT}:
 * the arguments come from the synced registers with the convention of the vCPU's mode at the call, pointers are
 * walked through its page tables, and the result goes back in RAX. Debug-console ports (0xE9, 0x12, COM1's data
 * register) reach the console; COM1's line status says "ready"; any other port reads all-ones and ignores writes,
 * as does MMIO nothing backs (the VGA hole, HPET, unused windows). MSRs go to {@link XenMsrs} (#GP for everything
 * jxen does not implement). A guest can stop the run only through shutdown, a triple fault or a failed entry.
 */
public final class ExitHandler {
    public static final int DEBUGCON = 0xE9, XEN_DEBUG_PORT = 0x12, COM1 = 0x3F8, COM1_LSR = COM1 + 5;
    /** PCI configuration mechanism #1: address at 0xCF8, data at 0xCFC-0xCFF. */
    private static final int PCI_CONFIG_ADDRESS = 0xCF8;
    /** Line status: transmitter holding register and shift register empty. */
    private static final byte LSR_READY = 0x60;

    private final GuestMemory ram;
    private final HypercallDispatcher hypercalls;
    private final XenMsrs msrs;
    private final OutputStream console;
    private final IoPorts devices;
    private final int vcpu;
    private final ExitCounts exits;
    private volatile Runnable afterPlacement = () -> {};

    public ExitHandler(GuestMemory ram, HypercallDispatcher hypercalls, XenMsrs msrs, OutputStream console) {
        this(ram, hypercalls, msrs, console, new IoPorts(), 0, new ExitCounts());
    }

    /**
     * @param devices the domain's port-I/O devices; {@code vcpu} is this handler's vCPU (told to them)
     * @param exits   the domain's exit counts, to which this vCPU adds
     */
    public ExitHandler(GuestMemory ram, HypercallDispatcher hypercalls, XenMsrs msrs, OutputStream console, IoPorts devices, int vcpu,
            ExitCounts exits) {
        this.ram = ram;
        this.hypercalls = hypercalls;
        this.msrs = msrs;
        this.console = console;
        this.devices = devices;
        this.vcpu = vcpu;
        this.exits = exits;
    }

    /** Runs after the hypercalls that move shared_info or a vcpu_info, or set an upcall vector (see movesSharedState). */
    public void afterPlacement(Runnable r) {
        this.afterPlacement = r;
    }

    /** Handles the exit in {@code run}; null to re-enter the guest, or the outcome that ends the run. */
    public RunOutcome handle(KvmRun run) {
        int reason = run.exitReason();
        if (reason == KVM_EXIT_IO) return io(run);
        if (reason == KVM_EXIT_MMIO) {
            exits.count(ExitCounts.Kind.MMIO);
            if (!run.mmioWrite()) run.mmioData().fill((byte) 0xFF);
            return null;
        }
        if (reason == KVM_EXIT_X86_WRMSR) {
            exits.count(ExitCounts.Kind.MSR_WRITE);
            msr(run, msrs.write(Integer.toUnsignedLong(run.msrIndex()), run.msrData(), longMode(run)));
            return null;
        }
        if (reason == KVM_EXIT_X86_RDMSR) {
            exits.count(ExitCounts.Kind.MSR_READ);
            msr(run, msrs.read(Integer.toUnsignedLong(run.msrIndex())));
            return null;
        }
        if (reason == KVM_EXIT_XEN) {
            exits.count(ExitCounts.Kind.XEN_HYPERCALL);
            return xenExit(run);
        }
        if (reason == KVM_EXIT_INTR) {
            exits.count(ExitCounts.Kind.INTERRUPTED);
            return null;
        }
        if (reason == KVM_EXIT_INTERNAL_ERROR) return internalError(run);
        exits.count(ExitCounts.Kind.FINAL);
        if (reason == KVM_EXIT_SHUTDOWN)
            return new RunOutcome(RunOutcome.GUEST_FAULT, "guest triple fault (KVM_EXIT_SHUTDOWN) on " + RefusedInstruction.describe(run, ram));
        if (reason == KVM_EXIT_FAIL_ENTRY)
            return new RunOutcome(RunOutcome.GUEST_FAULT, "vCPU entry failed, hardware reason 0x" + Long.toHexString(run.failEntryReason()));
        if (reason == KVM_EXIT_SYSTEM_EVENT) {
            return switch (run.systemEventType()) {
                case KVM_SYSTEM_EVENT_SHUTDOWN -> RunOutcome.forShutdown(0);
                case KVM_SYSTEM_EVENT_RESET -> RunOutcome.forShutdown(1);
                default -> RunOutcome.forShutdown(3);
            };
        }
        if (reason == KVM_EXIT_HLT) return new RunOutcome(RunOutcome.GUEST_FAULT, "vCPU halted with no interrupt controller to wake it");
        return new RunOutcome(RunOutcome.GUEST_FAULT, "unhandled KVM exit " + reason + " at rip 0x" + Long.toHexString(run.reg(KvmRun.RIP)));
    }

    /** Instructions the host's KVM refused and jxen emulated (see {@link RefusedInstruction}). */
    private long emulated;

    public long emulatedInstructions() {
        return emulated;
    }

    private RunOutcome internalError(KvmRun run) {
        int sub = run.internalSuberror();
        if (sub == KVM_INTERNAL_ERROR_EMULATION) {
            if (RefusedInstruction.tryEmulate(run, ram)) {
                exits.count(ExitCounts.Kind.EMULATED);
                emulated++;
                return null;
            }
            exits.count(ExitCounts.Kind.FINAL);
            return new RunOutcome(RunOutcome.GUEST_FAULT, "the host's KVM cannot emulate " + RefusedInstruction.describe(run, ram)
                    + " (KVM internal error, suberror 1: emulation failure)");
        }
        exits.count(ExitCounts.Kind.FINAL);
        return new RunOutcome(RunOutcome.GUEST_FAULT, "KVM internal error, suberror " + sub + " on " + RefusedInstruction.describe(run, ram));
    }

    private static boolean longMode(KvmRun run) {
        return (run.efer() & PagingState.EFER_LMA) != 0 && run.csLong();
    }

    private static void msr(KvmRun run, XenMsrs.Result r) {
        switch (r) {
            case XenMsrs.Result.Value v -> run.msrReply(false, v.value());
            case XenMsrs.Result.Done d -> run.msrReply(false, run.msrData());
            case XenMsrs.Result.GeneralProtection gp -> run.msrReply(true, 0);
        }
    }

    private RunOutcome io(KvmRun run) {
        int port = run.ioPort();
        ExitCounts.Kind kind = ioKind(port, run);
        exits.countPort(kind, port);
        MemorySegment data = run.ioData();
        if (run.ioOut()) {
            if (kind == ExitCounts.Kind.HYPERCALL_PAGE) {
                hypercall(run);
            } else if (port == DEBUGCON || port == XEN_DEBUG_PORT || port == COM1) {
                for (long i = 0; i < data.byteSize(); i += run.ioSize()) write(data.get(ValueLayout.JAVA_BYTE, i));
            } else if (run.ioCount() == 1) {
                int size = run.ioSize();
                int value = size == 1 ? data.get(ValueLayout.JAVA_BYTE, 0) & 0xFF
                        : size == 2 ? data.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0) & 0xFFFF : data.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
                devices.write(port, vcpu, value);
            }
            return null;
        }
        data.fill((byte) 0xFF);
        if (port == COM1_LSR && run.ioSize() == 1) data.fill(LSR_READY);
        return null;
    }

    private static ExitCounts.Kind ioKind(int port, KvmRun run) {
        if (port == HypercallPage.PORT && run.ioOut() && run.ioSize() == 4 && run.ioCount() == 1) return ExitCounts.Kind.HYPERCALL_PAGE;
        if (port == DEBUGCON || port == XEN_DEBUG_PORT || port == COM1 || port == COM1_LSR) return ExitCounts.Kind.CONSOLE_IO;
        if (port >= PCI_CONFIG_ADDRESS && port < PCI_CONFIG_ADDRESS + 8) return ExitCounts.Kind.PCI_CONFIG_IO;
        return ExitCounts.Kind.OTHER_IO;
    }

    private void write(byte b) {
        try {
            console.write(b);
            if (b == '\n') console.flush();
        } catch (IOException e) {
            // The console is jxen's stdout: a closed pipe must not stop the guest.
        }
    }

    /**
     * XENMEM_add_to_physmap, VCPUOP_register_vcpu_info and HVMOPs (callback and upcall vectors): the calls that move
     * shared state or change how upcalls arrive; not the frequent ones (timers), which must stay cheap.
     */
    private static boolean movesSharedState(HypercallArgs args) {
        int cmd = HypercallArgs.u32(args.a1());
        return args.number() == Hypercall.MEMORY_OP && (cmd & 0x3F) == MemoryOp.ADD_TO_PHYSMAP
                || args.number() == Hypercall.VCPU_OP && cmd == VcpuOp.REGISTER_VCPU_INFO
                || args.number() == Hypercall.HVM_OP;
    }

    /**
     * A hypercall by VMCALL/VMMCALL that KVM's Xen support left to jxen (everything but what it was told to handle,
     * here all of them): the arguments come decoded in the call's convention, the result goes back through the exit
     * and KVM advances RIP. Pointers are walked through the vCPU's page tables as for the hypercall page.
     */
    private RunOutcome xenExit(KvmRun run) {
        if (run.xenExitType() != KVM_EXIT_XEN_HCALL)
            return new RunOutcome(RunOutcome.GUEST_FAULT, "unknown KVM_EXIT_XEN type " + run.xenExitType());
        long nr = run.xenHcallInput();
        HypercallArgs args = run.xenHcallLongMode()
                ? HypercallArgs.from64(nr, run.xenHcallParam(0), run.xenHcallParam(1), run.xenHcallParam(2), run.xenHcallParam(3), run.xenHcallParam(4))
                : HypercallArgs.from32(nr, run.xenHcallParam(0), run.xenHcallParam(1), run.xenHcallParam(2), run.xenHcallParam(3), run.xenHcallParam(4));
        PagingState paging = new PagingState(run.cr0(), run.cr3(), run.cr4(), run.efer());
        GuestVirtualMemory mem = new GuestVirtualMemory(ram, PageWalker.of(ram, paging));
        run.xenHcallResult(hypercalls.dispatch(args, mem, run.xenHcallCpl() != 0));
        if (movesSharedState(args)) afterPlacement.run();
        return null;
    }

    private void hypercall(KvmRun run) {
        boolean lma = (run.efer() & PagingState.EFER_LMA) != 0;
        HypercallArgs args = HypercallArgs.fromRegisters(lma, run.csLong(), run.reg(KvmRun.RAX), run.reg(KvmRun.RBX),
                run.reg(KvmRun.RCX), run.reg(KvmRun.RDX), run.reg(KvmRun.RSI), run.reg(KvmRun.RDI), run.reg(KvmRun.R8),
                run.reg(KvmRun.R10));
        PagingState paging = new PagingState(run.cr0(), run.cr3(), run.cr4(), run.efer());
        GuestVirtualMemory mem = new GuestVirtualMemory(ram, PageWalker.of(ram, paging));
        long rax = hypercalls.dispatch(args, mem, run.cpl() != 0);
        run.setReg(KvmRun.RAX, rax);
        run.markRegsDirty();
        if (movesSharedState(args)) afterPlacement.run();
    }
}
