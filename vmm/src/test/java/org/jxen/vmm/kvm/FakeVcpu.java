package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.VcpuControl;
import org.jxen.sys.kvm.KvmRun;
import org.jxen.vmm.accel.AcceleratedVcpu;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.cpu.HypercallPage;

/**
 * A vCPU without KVM: a kvm_run area this test fills as KVM does at an exit (a 4-byte OUT to the hypercall port with
 * the registers synced, a WRMSR), handed to the vCPU's real {@link ExitHandler}; and the {@link VcpuControl} its
 * hypercalls see, with what an acceleration asks of a vCPU's thread (the test's thread is this vCPU's: {@link #enter}).
 */
final class FakeVcpu implements AcceleratedVcpu {
    private static final long DATA = 4096;

    final int id;
    final MemorySegment area = Arena.ofAuto().allocate(2 * 4096, 4096);
    final KvmRun run = new KvmRun(area);
    final Semaphore wakes = new Semaphore(0);
    final AtomicInteger shutdownReason = new AtomicInteger(-1);
    final AtomicBoolean entryWorkRequested = new AtomicBoolean(true);
    final AtomicInteger nudges = new AtomicInteger();
    ExitHandler exits;

    FakeVcpu(int id) {
        this.id = id;
    }

    /** A hypercall from 64-bit or 32-bit code; CR0.PG stays clear in this fake, so its pointers are guest-physical. */
    long hypercall(boolean longMode, int nr, long a1, long a2, long a3, long a4, long a5) {
        long s = OFFSETOF_KVM_RUN_SREGS;
        area.set(ValueLayout.JAVA_LONG, s + OFFSETOF_KVM_SREGS_EFER, longMode ? PagingState.EFER_LMA | PagingState.EFER_LME : 0);
        area.set(ValueLayout.JAVA_LONG, s + OFFSETOF_KVM_SREGS_CR0, PagingState.CR0_PE);
        area.set(ValueLayout.JAVA_BYTE, s + OFFSETOF_KVM_SREGS_CS + OFFSETOF_KVM_SEGMENT_L, (byte) (longMode ? 1 : 0));
        run.setReg(KvmRun.RAX, nr);
        if (longMode) {
            run.setReg(KvmRun.RDI, a1);
            run.setReg(KvmRun.RSI, a2);
            run.setReg(KvmRun.RDX, a3);
            run.setReg(KvmRun.R10, a4);
            run.setReg(KvmRun.R8, a5);
        } else {
            run.setReg(KvmRun.RBX, a1);
            run.setReg(KvmRun.RCX, a2);
            run.setReg(KvmRun.RDX, a3);
            run.setReg(KvmRun.RSI, a4);
            run.setReg(KvmRun.RDI, a5);
        }
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_IO);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_DIRECTION, (byte) KVM_EXIT_IO_OUT);
        area.set(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_IO_SIZE, (byte) 4);
        area.set(ValueLayout.JAVA_SHORT, OFFSETOF_KVM_RUN_IO_PORT, (short) HypercallPage.PORT);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_IO_COUNT, 1);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_IO_DATA_OFFSET, DATA);
        if (exits.handle(run) != null) throw new AssertionError("a hypercall ended the run");
        long rax = run.reg(KvmRun.RAX);
        return longMode ? rax : (long) (int) rax;
    }

    /** A 32-bit guest's hypercall (paging off: pointers are physical). */
    long hypercall32(int nr, long a1, long a2, long a3) {
        return hypercall(false, nr, a1, a2, a3, 0, 0);
    }

    /** WRMSR; true if the guest got a #GP. */
    boolean wrmsr(int index, long value) {
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_EXIT_REASON, KVM_EXIT_X86_WRMSR);
        area.set(ValueLayout.JAVA_INT, OFFSETOF_KVM_RUN_MSR_INDEX, index);
        area.set(ValueLayout.JAVA_LONG, OFFSETOF_KVM_RUN_MSR_DATA, value);
        exits.handle(run);
        return area.get(ValueLayout.JAVA_BYTE, OFFSETOF_KVM_RUN_MSR_ERROR) != 0;
    }

    boolean awaitWake(long millis) throws InterruptedException {
        return wakes.tryAcquire(millis, TimeUnit.MILLISECONDS);
    }

    @Override
    public int vcpu() {
        return id;
    }

    @Override
    public void prepareBlock() {
        wakes.drainPermits();
    }

    @Override
    public void block(long deadlineNanos) {}

    @Override
    public void wake() {
        wakes.release();
    }

    @Override
    public void yield() {}

    @Override
    public void shutdown(int reason) {
        shutdownReason.set(reason);
    }

    /** What VcpuThread does before KVM_RUN: the acceleration's entry work, if asked for since the last entry. */
    void enter(Offload offload) {
        if (entryWorkRequested.getAndSet(false)) offload.beforeEntry(id);
    }

    @Override
    public void requestEntryWork() {
        entryWorkRequested.set(true);
    }

    @Override
    public void nudge() {
        nudges.incrementAndGet();
    }

    @Override
    public boolean isCurrent() {
        return true;
    }

    @Override
    public boolean alive() {
        return false;
    }
}
