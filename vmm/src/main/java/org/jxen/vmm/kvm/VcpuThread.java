package org.jxen.vmm.kvm;

import static org.jxen.sys.kvm.KvmAbi.*;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.OptionalLong;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Function;

import org.jxen.engine.platform.VcpuControl;
import org.jxen.sys.Errno;
import org.jxen.sys.Libc;
import org.jxen.sys.kvm.KvmException;
import org.jxen.sys.kvm.KvmRun;
import org.jxen.sys.kvm.KvmVcpu;
import org.jxen.vmm.accel.AcceleratedVcpu;
import org.jxen.vmm.accel.Offload;
import org.jxen.vmm.backend.ThreadStop;

/**
 * One vCPU's thread: KVM_RUN, handle the exit, again, until the domain stops. It is also the {@link VcpuControl} its
 * hypercalls see (SCHEDOP_block sleeps here until an upcall wakes it). Nothing a guest does throws out of the loop:
 * an exception from exit handling is a jxen bug, reported as the run's outcome. Other threads stop it with
 * {@link #kick}: immediate_exit plus SIGPIPE to its kernel thread, so a vCPU halted inside KVM comes out too.
 * Other threads never make this vCPU's ioctls: they {@link #ask} it, and the thread answers before its next entry
 * (or, once it has ended or before it starts, the asker may, as nobody else uses the descriptor then).
 *
 * <p>Why it is over 350 lines: the run loop, the messages other threads send it (start, down, questions, entry work,
 * kicks) and the halt watchdog's look all meet on the same few volatile fields, read in one place (the loop), which
 * is easier to check as one class than as several sharing them.
 */
final class VcpuThread implements AcceleratedVcpu {
    private static final Logger LOG = System.getLogger(VcpuThread.class.getName());
    private static final long RFLAGS_IF = 1L << 9;
    private final int id;
    private final KvmVcpu vcpu;
    private final KvmRun run;
    private final DomainStop stop;
    /** What the domain's acceleration keeps per vCPU (set on this thread before an entry) and asks of a blocked vCPU. */
    private final Offload offload;
    private final Semaphore wakes = new Semaphore(0);
    private final Semaphore upSignal = new Semaphore(0);
    private volatile ExitHandler exits;
    private volatile int tid;
    private volatile boolean down;
    /** A live migration's switch-over holds the thread before its next entry ({@link #hold}); {@code waiting} once it does. */
    private volatile boolean held, waiting;
    /** Set while the thread is inside KVM_RUN, with the time it went in (for the halt watchdog). */
    private volatile long enteredAt;
    private volatile boolean inGuest;
    /** The watchdog asked for a look at the vCPU's state at its next interrupted exit. */
    private volatile boolean haltCheck;
    /** Halted with interrupts disabled at the last look: nothing jxen sends can wake it. */
    private volatile boolean deadHalt;
    /**
     * Since when (System.nanoTime) every look found the vCPU running guest code with interrupts disabled and it has not
     * left the guest on its own in between; 0 while it has not.
     */
    private volatile long interruptsOffSince;
    private volatile Consumer<KvmVcpu> beforeFirstRun = v -> {};
    /** Started the Xen way (boot vCPU, VCPUOP_up), not merely parked for a SIPI. */
    private boolean launched;
    /** The VCPUOP_up setup a parked thread applies before its next entry. */
    private final AtomicReference<Consumer<KvmVcpu>> pendingSetup = new AtomicReference<>();
    /**
     * Another thread asked for {@link Offload#beforeEntry} before the next KVM_RUN (per-vCPU KVM state only this thread
     * may set); asked for before the first entry too, so what the acceleration set up before this thread existed applies.
     */
    private final AtomicBoolean entryWorkRequested = new AtomicBoolean(true);
    private volatile Thread thread;
    /** Questions from other threads, answered by this thread before its next entry ({@link #ask}). */
    private final Queue<FutureTask<?>> questions = new ConcurrentLinkedQueue<>();
    /** The loop has ended and answered its last questions: {@link #ask} answers itself from now on. */
    private boolean finished;

    VcpuThread(int id, KvmVcpu vcpu, DomainStop stop, Offload offload) {
        this.id = id;
        this.offload = offload;
        this.vcpu = vcpu;
        this.run = new KvmRun(vcpu.runArea());
        this.stop = stop;
    }

    void setExitHandler(ExitHandler exits) {
        this.exits = exits;
    }

    /**
     * Answers {@code question} about this vCPU's KVM state on the thread that may make its ioctls: the vCPU thread, before
     * its next entry (it is taken out of KVM_RUN for that), or the caller when no thread runs the vCPU (not started yet,
     * or ended). Waits for the answer; an exception from the question is thrown here, unchecked.
     */
    <T> T ask(Function<KvmVcpu, T> question) {
        FutureTask<T> task = new FutureTask<>(() -> question.apply(vcpu));
        synchronized (this) {
            if (thread == null || finished) {
                return question.apply(vcpu);
            }
            questions.add(task);
        }
        if (Thread.currentThread() == thread) answerQuestions();
        else nudgeOut();
        try {
            return task.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while vCPU " + id + " answered", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        }
    }

    private void answerQuestions() {
        for (FutureTask<?> q; (q = questions.poll()) != null; ) q.run();
    }

    /**
     * Out of KVM_RUN (or a VCPUOP_down wait) for a question: immediate_exit covers a signal sent just before the thread
     * enters. A vCPU blocked in a hypercall (SCHEDOP_block) answers when it returns.
     */
    private void nudgeOut() {
        run.setImmediateExit(true);
        interruptRun();
        upSignal.release();
        Thread t = thread;
        if (t != null) LockSupport.unpark(t); // held: the question is answered while it waits
    }

    /** The descriptor itself, for the domain's last release (every thread has stopped then). */
    KvmVcpu kvmVcpu() {
        return vcpu;
    }

    /**
     * Starts the vCPU (VCPUOP_up, or vCPU 0 at boot); {@code setup} runs on its thread before it next enters the guest
     * (register state for an AP). A parked thread ({@link #startParked}) takes the setup at once; a vCPU that was taken
     * down resumes where it stopped.
     */
    synchronized void start(Consumer<KvmVcpu> setup) {
        if (stop.requested()) return; // the domain is stopping: no vCPU starts (VCPUOP_up after close is refused)
        if (thread != null && !launched) {
            launched = true;
            pendingSetup.set(setup);
            if (down) { // taken down while parked
                down = false;
                upSignal.release();
            }
            nudge();
            return;
        }
        if (thread != null) {
            // VCPUOP_up after VCPUOP_down: resume where it stopped.
            down = false;
            upSignal.release();
            return;
        }
        launched = true;
        beforeFirstRun = setup;
        thread = Thread.ofPlatform().name("jxen-vcpu-" + id).start(this::loop);
    }

    /**
     * Starts the thread of a vCPU nobody has started yet: inside KVM_RUN it waits, as KVM created it (an AP with the
     * in-kernel LAPIC is UNINITIALIZED), for INIT and SIPI from another vCPU, which is how a PVH Linux brings up its
     * CPUs after reading the MADT; VCPUOP_up still starts it the Xen way.
     */
    synchronized void startParked() {
        if (stop.requested() || thread != null) return;
        thread = Thread.ofPlatform().name("jxen-vcpu-" + id).start(this::loop);
    }

    boolean started() {
        return thread != null;
    }

    /** VCPUOP_down: the vCPU stops at its next exit and waits for VCPUOP_up. */
    void takeDown() {
        down = true;
        kick();
    }

    private void loop() {
        tid = Libc.gettid();
        try {
            beforeFirstRun.accept(vcpu);
            run.requestSyncedRegs(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
            while (!stop.requested()) {
                answerQuestions();
                if (held) {
                    awaitRelease();
                    continue;
                }
                if (down) {
                    upSignal.acquireUninterruptibly(); // a question releases it too: the loop answers, then waits again
                    continue;
                }
                if (entryWorkRequested.getAndSet(false)) offload.beforeEntry(id);
                Consumer<KvmVcpu> setup = pendingSetup.getAndSet(null);
                if (setup != null) setup.accept(vcpu);
                enteredAt = System.nanoTime();
                inGuest = true;
                int rc = vcpu.enter();
                inGuest = false;
                if (rc == -Errno.EINTR || rc == -Errno.EAGAIN) {
                    run.setImmediateExit(false);
                    if (haltCheck) {
                        haltCheck = false;
                        int mp = vcpu.mpState();
                        // Halted with interrupts off, or never started (waiting for a SIPI): it cannot wake itself.
                        boolean interruptsOff = (run.reg(KvmRun.RFLAGS) & RFLAGS_IF) == 0;
                        deadHalt = mp == KVM_MP_STATE_HALTED && interruptsOff
                                || mp == KVM_MP_STATE_UNINITIALIZED || mp == KVM_MP_STATE_INIT_RECEIVED;
                        if (mp != KVM_MP_STATE_RUNNABLE || !interruptsOff) interruptsOffSince = 0;
                        else if (interruptsOffSince == 0) interruptsOffSince = System.nanoTime();
                    }
                    continue;
                }
                deadHalt = false;
                interruptsOffSince = 0; // it left the guest on its own: it is getting somewhere
                if (rc < 0) {
                    stop.request(new RunOutcome(RunOutcome.JXEN_ERROR, "KVM_RUN on vCPU " + id + " failed: " + Errno.describe(-rc)));
                    break;
                }
                RunOutcome o = exits.handle(run);
                if (o != null) stop.request(o);
            }
            completePendingExit();
        } catch (RuntimeException bug) {
            LOG.log(Level.ERROR, "jxen bug on vCPU " + id + "; the domain stops", bug);
            stop.request(new RunOutcome(RunOutcome.JXEN_ERROR, "jxen bug on vCPU " + id + ": " + bug));
        } finally {
            synchronized (this) {
                finished = true;
            }
            answerQuestions(); // those asked before the end; later ones are answered by their askers
        }
    }

    /** Held: the exit in flight completed, the thread waits (answering questions) until released or the domain stops. */
    private void awaitRelease() {
        completePendingExit();
        waiting = true;
        while (held && !stop.requested()) {
            answerQuestions();
            LockSupport.park(this);
        }
        waiting = false;
    }

    /**
     * Holds the vCPU out of the guest without ending the run (a live migration's switch-over, which a failure before the
     * destination confirms undoes): the exit in flight is completed, then the thread waits before its next entry,
     * still answering {@link #ask}. True once it waits (or has ended); false if it did neither within
     * {@link ThreadStop#JOIN_MILLIS}.
     */
    boolean hold() {
        held = true;
        Thread t;
        synchronized (this) {
            t = thread;
            if (t == null || finished) return true;
        }
        kick();
        long deadline = System.nanoTime() + ThreadStop.JOIN_MILLIS * 1_000_000L;
        while (!waiting && t.isAlive()) {
            if (System.nanoTime() > deadline) return false;
            LockSupport.parkNanos(100_000);
        }
        return true;
    }

    /** Ends a {@link #hold}: the vCPU enters the guest again (or, if the domain stopped meanwhile, its thread ends). */
    void release() {
        held = false;
        Thread t = thread;
        if (t != null) LockSupport.unpark(t);
    }

    /**
     * KVM finishes an exit's instruction (the hypercall's OUT, our register writes through kvm_run) only at the next
     * KVM_RUN; one with immediate_exit set does that and returns at once, so the vCPU's saved state is consistent.
     */
    private void completePendingExit() {
        run.setImmediateExit(true);
        vcpu.enter();
        run.setImmediateExit(false);
    }

    /**
     * The halt watchdog's look: a vCPU that has stayed inside KVM_RUN longer than {@code quietNanos} is kicked out and
     * its state read (KVM handles HLT itself, so a guest halted with interrupts off never exits on its own). True if
     * the last look found it halted with IF clear.
     */
    boolean checkDeadHalt(long quietNanos) {
        if (thread == null || down) return false;
        if (inGuest && System.nanoTime() - enteredAt > quietNanos) {
            haltCheck = true;
            interruptRun();
        }
        return deadHalt;
    }

    /**
     * After {@link #checkDeadHalt}: whether every look for at least {@code nanos} found this vCPU running with interrupts
     * disabled, never leaving the guest on its own in between (no hypercall, no I/O, no halt): a loop nothing can
     * interrupt, unless another vCPU ends it.
     */
    boolean spinningWithInterruptsOff(long nanos) {
        long since = interruptsOffSince;
        return since != 0 && System.nanoTime() - since >= nanos;
    }

    @Override
    public void requestEntryWork() {
        entryWorkRequested.set(true);
        nudge();
    }

    /**
     * Takes the thread out of KVM_RUN so that it enters again (KVM then re-evaluates what it injects, e.g. the Xen
     * callback vector while evtchn_upcall_pending is set). Nothing to do from the thread itself: it is not inside.
     */
    @Override
    public void nudge() {
        if (Thread.currentThread() != thread) interruptRun();
    }

    /** Makes the thread leave KVM_RUN now (it checks the stop and down flags). */
    void kick() {
        run.setImmediateExit(true);
        interruptRun();
        wakes.release();
        upSignal.release();
        Thread t = thread;
        if (t != null) LockSupport.unpark(t); // held: it sees the stop
    }

    @Override
    public boolean alive() {
        return thread != null && thread.isAlive();
    }

    /** The guest's TSC (KVM_GET_MSRS), asked on this vCPU's own thread only: another thread would wait out KVM_RUN. */
    @Override
    public OptionalLong guestTsc() {
        if (!isCurrent()) return OptionalLong.empty();
        try {
            return OptionalLong.of(vcpu.readTsc());
        } catch (KvmException e) {
            return OptionalLong.empty();
        }
    }

    /** Whether the caller is this vCPU's thread (it may then use the vCPU's descriptor: it is not inside KVM_RUN). */
    @Override
    public boolean isCurrent() {
        return thread != null && Thread.currentThread() == thread;
    }

    /** SIGPIPE to the thread: a blocking KVM_RUN returns EINTR (the JVM's handler ignores the signal otherwise). */
    private void interruptRun() {
        int t = tid;
        if (t != 0) Libc.signalThread(t, Libc.SIGPIPE);
    }

    void join(long millis) throws InterruptedException {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t != null) t.join(millis);
    }

    /** Kicks the thread out of KVM_RUN and waits for it to end; false (reported) if it would not. */
    boolean stopAndJoin() {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t == null) return true;
        kick();
        return ThreadStop.join(t, "vCPU " + id);
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
    public void block(long deadlineNanos) {
        try {
            long left = deadlineNanos == Long.MAX_VALUE ? Long.MAX_VALUE : deadlineNanos - System.nanoTime();
            while (left > 0 && !stop.requested()) {
                if (wakes.tryAcquire(Math.min(left, 100_000_000L), TimeUnit.NANOSECONDS)) return;
                if (deadlineNanos != Long.MAX_VALUE) left = deadlineNanos - System.nanoTime();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Where events can reach the guest without passing jxen (sends KVM delivers itself), a vCPU blocked here
     * (SCHEDOP_block or poll by jxen's hypercall page) re-checks its wake conditions in guest memory this often as well.
     */
    private static final long RECHECK_NANOS = 1_000_000L;

    @Override
    public void block(long deadlineNanos, BooleanSupplier woken) {
        if (!offload.deliversWithoutJxen()) {
            block(deadlineNanos);
            return;
        }
        try {
            while (!stop.requested() && !woken.getAsBoolean()) {
                long left = deadlineNanos == Long.MAX_VALUE ? RECHECK_NANOS : deadlineNanos - System.nanoTime();
                if (left <= 0) return;
                if (wakes.tryAcquire(Math.min(left, RECHECK_NANOS), TimeUnit.NANOSECONDS)) return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void wake() {
        wakes.release();
    }

    @Override
    public void yield() {
        Thread.yield();
    }

    @Override
    public void shutdown(int reason) {
        stop.request(RunOutcome.forShutdown(reason));
    }
}
