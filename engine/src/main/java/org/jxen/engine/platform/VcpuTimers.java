package org.jxen.engine.platform;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;

/**
 * Each vCPU's two Xen timers ({@code common/sched/core.c}): a singleshot timer at an absolute Xen system time, and a
 * periodic one. Expiry raises VIRQ_TIMER on that vCPU (send_timer_event). A deadline already past fires at once.
 * One daemon thread runs every timer of the domain.
 */
public final class VcpuTimers implements AutoCloseable {
    private final LongSupplier systemTimeNanos;
    private final IntConsumer fire;
    private final ScheduledThreadPoolExecutor clock;
    private final ScheduledFuture<?>[] singleshot;
    private final ScheduledFuture<?>[] periodic;
    private final long[] singleshotDeadline;
    private final long[] period;
    /** Set for a save: nothing fires any more, and armed deadlines stay as they are (the save records them). */
    private volatile boolean paused;
    private SingleshotKeeper keeper = SingleshotKeeper.NONE;

    /**
     * @param systemTimeNanos Xen system time (what absolute timeouts are in)
     * @param fire raises VIRQ_TIMER for a vCPU
     */
    public VcpuTimers(int vcpus, LongSupplier systemTimeNanos, IntConsumer fire) {
        this.systemTimeNanos = systemTimeNanos;
        this.fire = fire;
        this.clock = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().name("jxen-timers").daemon().unstarted(r));
        clock.setRemoveOnCancelPolicy(true);
        this.singleshot = new ScheduledFuture<?>[vcpus];
        this.periodic = new ScheduledFuture<?>[vcpus];
        this.singleshotDeadline = new long[vcpus];
        this.period = new long[vcpus];
    }

    /** Where singleshot timers held outside this thread are (kvm mode); asked first by every singleshot call. */
    public synchronized void setKeeper(SingleshotKeeper keeper) {
        this.keeper = keeper;
    }

    /** Arms the singleshot timer at absolute Xen system time {@code deadlineNs} (replacing any armed one). */
    public synchronized void setSingleshot(int vcpu, long deadlineNs) {
        setSingleshot(vcpu, deadlineNs, systemTimeNanos.getAsLong());
    }

    /**
     * {@link #setSingleshot(int, long)} for a deadline the guest computed from its own clock, which reads {@code nowNs}
     * now ({@link GuestClock}): the delay is measured on the guest's clock, so the event does not come before the
     * guest's clock reaches the deadline however far that clock and the host's have drifted apart since the domain
     * started.
     */
    public synchronized void setSingleshot(int vcpu, long deadlineNs, long nowNs) {
        if (keeper.set(vcpu, deadlineNs)) return;
        stopOwnSingleshot(vcpu);
        singleshotDeadline[vcpu] = deadlineNs;
        long delay = Math.max(0, deadlineNs - nowNs);
        singleshot[vcpu] = clock.schedule(() -> expire(vcpu), delay, TimeUnit.NANOSECONDS);
    }

    private void expire(int vcpu) {
        synchronized (this) {
            if (paused) return;
            singleshot[vcpu] = null;
            singleshotDeadline[vcpu] = 0;
        }
        fire.accept(vcpu);
    }

    public synchronized void stopSingleshot(int vcpu) {
        if (!keeper.stop(vcpu)) stopOwnSingleshot(vcpu);
    }

    private void stopOwnSingleshot(int vcpu) {
        if (singleshot[vcpu] != null) singleshot[vcpu].cancel(false);
        singleshot[vcpu] = null;
        singleshotDeadline[vcpu] = 0;
    }

    /**
     * Hands {@code vcpu}'s singleshot timer over to a keeper: stops this thread's and returns its deadline (0: none
     * armed). An expiry already running still raises its event (a second event for one deadline is harmless).
     */
    public synchronized long detachSingleshot(int vcpu) {
        long d = singleshotDeadline[vcpu];
        stopOwnSingleshot(vcpu);
        return d;
    }

    /** The armed singleshot deadline, or 0 (for save/inspection), wherever the timer is held. */
    public synchronized long singleshotDeadline(int vcpu) {
        long kept = keeper.deadline(vcpu);
        return kept >= 0 ? kept : singleshotDeadline[vcpu];
    }

    public synchronized void setPeriodic(int vcpu, long periodNs) {
        stopPeriodic(vcpu);
        period[vcpu] = periodNs;
        periodic[vcpu] = clock.scheduleAtFixedRate(() -> {
            if (!paused) fire.accept(vcpu);
        }, periodNs, periodNs, TimeUnit.NANOSECONDS);
    }

    public synchronized void stopPeriodic(int vcpu) {
        if (periodic[vcpu] != null) periodic[vcpu].cancel(false);
        periodic[vcpu] = null;
        period[vcpu] = 0;
    }

    /** The periodic timer's period, or 0. */
    public synchronized long period(int vcpu) {
        return period[vcpu];
    }

    /**
     * Stops every timer from firing, keeping the armed deadlines and periods (for a save, so the saved ports and RAM
     * agree with what the timers did). Returns once no expiry is running any more.
     */
    public void pause() {
        paused = true;
        synchronized (this) {
            // A singleshot expiry checks the flag under this lock; a periodic one may still be in fire(): wait it out.
        }
        try {
            clock.submit(() -> {}).get(); // one thread runs every timer: this runs after any expiry in progress
        } catch (RejectedExecutionException | ExecutionException e) {
            // already closed: nothing runs
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * After {@link #pause}, the save abandoned (a failed live migration): timers fire again; a singleshot deadline that
     * passed while paused (its expiry was dropped) fires now.
     */
    public synchronized void unpause() {
        paused = false;
        for (int v = 0; v < singleshotDeadline.length; v++) {
            long d = singleshotDeadline[v];
            if (d != 0 && (singleshot[v] == null || singleshot[v].isDone())) {
                int vcpu = v;
                singleshot[v] = clock.schedule(() -> expire(vcpu), Math.max(0, d - systemTimeNanos.getAsLong()), TimeUnit.NANOSECONDS);
            }
        }
    }

    /**
     * Cancels every timer and waits for an expiry in progress to finish (it raises an event, which may inject an
     * upcall through the VM's descriptor). False if the timer thread did not end within {@code millis}.
     */
    public boolean stop(long millis) {
        clock.shutdownNow();
        try {
            return clock.awaitTermination(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return clock.isTerminated();
        }
    }

    @Override
    public void close() {
        stop(60_000);
    }
}
