package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

import org.jxen.engine.memory.GuestMemory;
import org.jxen.engine.memory.PagingState;
import org.jxen.engine.platform.VcpuHvmContext;
import org.jxen.engine.platform.VcpuLifecycle;
import org.jxen.sys.kvm.KvmVcpu;

/**
 * The domain's vCPU threads: starts them, watches them (the halt watchdog), joins and stops them, and carries other
 * threads' questions to them ({@link VcpuThread#ask}: a vCPU's ioctls are made by its own thread while it runs). The
 * guest's TSC frequency is read once, by the builder before any vCPU thread exists, and kept here.
 */
final class VcpuManager {
    /** How long a vCPU may stay in the guest before the watchdog looks whether it is halted for good. */
    private static final long QUIET_NANOS = 300_000_000L;
    /**
     * How long every vCPU may stay in the guest with interrupts disabled (halted or spinning, never exiting) before the
     * run ends: far beyond anything a working kernel does (Linux calls 10 s with interrupts off a hard lockup), even
     * under emulation.
     */
    static final long INTERRUPTS_OFF_NANOS = 60_000_000_000L;

    private final DomainStop stop;
    private final int tscKhz;
    /**
     * The vCPU threads by KVM vCPU index, appended while the domain is built. Other threads read it meanwhile (the
     * engine's timer thread: a restored timer that has expired fires during the build; backends' upcalls), so the list
     * publishes each append safely; a vCPU not appended yet reads as absent.
     */
    private final List<VcpuThread> vcpus = new CopyOnWriteArrayList<>();
    private volatile long interruptsOffLimit = INTERRUPTS_OFF_NANOS;

    VcpuManager(DomainStop stop, int tscKhz) {
        this.stop = stop;
        this.tscKhz = tscKhz;
        stop.onStop(() -> vcpus.forEach(VcpuThread::kick));
    }

    /** Adds the next vCPU's thread (not started: {@link #start} does that). */
    void add(VcpuThread t) {
        if (t.vcpu() != vcpus.size()) throw new IllegalArgumentException("vCPU " + t.vcpu() + " added as number " + vcpus.size());
        vcpus.add(t);
    }

    int count() {
        return vcpus.size();
    }

    /** vCPU {@code v}'s thread, or null while the domain is built and it is not yet (the list only grows). */
    VcpuThread vcpuOrNull(int v) {
        return v < vcpus.size() ? vcpus.get(v) : null;
    }

    /** The guest TSC frequency KVM reports (kHz), read before any vCPU thread ran. */
    int tscKhz() {
        return tscKhz;
    }

    /** VCPUOP_up / down as the engine asks for them: each a message its vCPU thread takes before its next entry. */
    VcpuLifecycle lifecycle() {
        return new VcpuLifecycle() {
            @Override
            public void start(int vcpu, VcpuHvmContext context) {
                vcpus.get(vcpu).start(v -> {
                    if (context != null) VcpuRegisters.loadContext(v, context);
                    v.setMpState(KVM_MP_STATE_RUNNABLE);
                });
            }

            @Override
            public void stop(int vcpu) {
                vcpus.get(vcpu).takeDown();
            }
        };
    }

    /** Another limit than {@link #INTERRUPTS_OFF_NANOS} for the watchdog's stuck-guest case (tests: a quicker look). */
    void interruptsOffLimit(Duration limit) {
        interruptsOffLimit = limit.toNanos();
    }

    /** Starts {@code first} (boot vCPU, or those up in a restored domain); the others wait in KVM for INIT-SIPI or VCPUOP_up. */
    void start(List<Integer> first) {
        for (int v : first) vcpus.get(v).start(k -> {});
        for (VcpuThread t : vcpus) t.startParked();
    }

    /**
     * Waits for the domain to stop until {@code deadlineNanos} (System.nanoTime), looking every 200 ms at vCPUs that have
     * not exited for a while. When every running vCPU is halted with interrupts disabled, nothing can wake the guest:
     * the domain stops at once with that reason. When every one has run with interrupts disabled, never exiting, for the
     * limit (60 s), it is stuck for good: that outcome is returned without a stop, so the caller reports what it sees
     * first, as after a timeout. Null when the deadline passed first; the stop's outcome when the domain stopped.
     */
    RunOutcome watch(long deadlineNanos) throws InterruptedException {
        while (System.nanoTime() < deadlineNanos) {
            RunOutcome o = stop.await(Math.max(1, Math.min(200, (deadlineNanos - System.nanoTime()) / 1_000_000)));
            if (o != null) return o;
            boolean allDead = true, allInterruptsOff = true;
            int running = 0;
            for (VcpuThread t : vcpus) {
                if (!t.started()) continue;
                running++;
                boolean dead = t.checkDeadHalt(QUIET_NANOS);
                allDead &= dead;
                allInterruptsOff &= dead || t.spinningWithInterruptsOff(interruptsOffLimit);
            }
            if (running > 0 && allDead)
                stop.request(new RunOutcome(RunOutcome.GUEST_FAULT, "every vCPU halted with interrupts disabled: nothing can wake the guest"));
            else if (running > 0 && allInterruptsOff)
                return new RunOutcome(RunOutcome.GUEST_FAULT, "every vCPU has run with interrupts disabled for "
                        + interruptsOffLimit / 1_000_000_000L + " s without leaving the guest: nothing can interrupt it");
        }
        return stop.outcome();
    }

    /** Waits up to {@code millis} for each vCPU thread to end (after a stop). */
    void join(long millis) throws InterruptedException {
        for (VcpuThread t : vcpus) t.join(millis);
    }

    /** Kicks every vCPU thread out of KVM_RUN and waits for each; false if one would not end (it is reported). */
    boolean stopAll() {
        boolean stopped = true;
        for (VcpuThread t : vcpus) stopped &= t.stopAndJoin();
        return stopped;
    }

    /** The vCPU threads, in vCPU order (a view: a live migration waits for them to end). */
    List<VcpuThread> threads() {
        return Collections.unmodifiableList(vcpus);
    }

    /** The first vCPU whose thread still runs, or -1. */
    int firstAlive() {
        for (VcpuThread t : vcpus) if (t.alive()) return t.vcpu();
        return -1;
    }

    /** Asks every vCPU the same question, in vCPU order (see {@link VcpuThread#ask}). */
    <T> List<T> askEach(Function<KvmVcpu, T> question) {
        return vcpus.stream().map(t -> t.ask(question)).toList();
    }

    /** Closes the vCPUs' descriptors and kvm_run mappings; only once every thread has ended. */
    void closeVcpus() {
        for (VcpuThread t : vcpus) t.kvmVcpu().close();
    }

    /**
     * Each vCPU's MP state, RIP, RFLAGS and the vectors pending (IRR) and in service (ISR) at its local APIC, one line
     * each with its stack, for reports on a guest that stopped answering.
     */
    String describe(GuestMemory ram) {
        StringBuilder sb = new StringBuilder();
        for (VcpuThread t : vcpus) sb.append(t.<String>ask(v -> describe(t.vcpu(), v, ram)));
        return sb.toString().strip();
    }

    private static String describe(int id, KvmVcpu v, GuestMemory ram) {
        var regs = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.REGS)).order(ByteOrder.LITTLE_ENDIAN);
        var apic = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.LAPIC)).order(ByteOrder.LITTLE_ENDIAN);
        var sregs = ByteBuffer.wrap(v.getState(KvmVcpu.StateBlock.SREGS)).order(ByteOrder.LITTLE_ENDIAN);
        long rsp = regs.getLong(OFFSETOF_KVM_REGS_RSP);
        return String.format("vCPU %d: mp_state %d rip 0x%x rflags 0x%x rsp 0x%x irr %s isr %s%n  stack:%s%n", id, v.mpState(),
                regs.getLong(OFFSETOF_KVM_REGS_RIP), regs.getLong(OFFSETOF_KVM_REGS_RFLAGS), rsp, vectors(apic, 0x200), vectors(apic, 0x100),
                StallReport.stack(ram, new PagingState(sregs.getLong(OFFSETOF_KVM_SREGS_CR0), sregs.getLong(OFFSETOF_KVM_SREGS_CR3),
                        sregs.getLong(OFFSETOF_KVM_SREGS_CR4), sregs.getLong(OFFSETOF_KVM_SREGS_EFER)), rsp));
    }

    /** The vectors set in a 256-bit APIC register (eight 32-bit words, 16 bytes apart). */
    private static String vectors(ByteBuffer apic, int base) {
        StringBuilder sb = new StringBuilder("[");
        for (int w = 0; w < 8; w++) {
            int bits = apic.getInt(base + 16 * w);
            for (int b = 0; b < 32; b++) if ((bits & (1 << b)) != 0) sb.append(sb.length() > 1 ? " " : "").append(Integer.toHexString(32 * w + b));
        }
        return sb.append(']').toString();
    }
}
